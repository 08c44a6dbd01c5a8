"""Evaluate 2D-to-3D lifters on a data set's split: each clip seen by a seeded random camera, corrupted the way
detectors fail (the training corruption), lifted whole (overlapping windows blended at the seams).

    python eval_lift.py --checkpoint runs/lift_people/model.safetensors runs/lift_people_mlp/model.safetensors \\
        --data data/zoo/people --out results/eval_lift_people

Writes OUT.json and OUT.md: MPJPE and P-MPJPE (mm), acceleration error, and the acceleration error at window seams
against inside windows. Clips are lifted as lift.py lifts them: with the flip test unless --no-flip.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from eval.lifting import evaluate_lifter
from models import bundled
from models.checkpoint import CheckpointError
from models.lifter import Lifter
from train_lifter import lifting_setup, load_clips
from utils.dataset import DataError, MotionFolder
from utils.io import write_report


def markdown_table(results: dict[str, dict]) -> str:
    lines = ["| lifter | clips | MPJPE mm | P-MPJPE mm | accel error mm/frame² | at seams | inside windows | "
             "seam / inside |", "|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        seams = [f"{r[k]:.2f}" if k in r else "n/a" for k in ("accel_error_seams_mm", "accel_error_inside_mm")]
        ratio = f"{r['seam_ratio']:.2f}" if "seam_ratio" in r else "n/a (no seams)"
        lines.append(f"| {name} | {r['clips']} | {r['mpjpe_mm']:.1f} | {r['p_mpjpe_mm']:.1f} | "
                     f"{r['accel_error_mm']:.2f} | {seams[0]} | {seams[1]} | {ratio} |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", help="one or more lifter checkpoints (default: the bundled lifter "
                                                  "for the data's skeleton)")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--max-clips", type=int)
    p.add_argument("--overlap", type=int, help="frames shared by neighbouring windows (default: window / 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-flip", action="store_true", help="no mirrored second view (lift.py --no-flip)")
    p.add_argument("--out", required=True, help="output prefix for .json and .md")
    args = p.parse_args(argv)
    try:
        folder = MotionFolder(args.data)
        in_spec, reg = lifting_setup(folder)
        clips = load_clips(folder, args.split, args.max_clips)
        results = {}
        for path in args.checkpoint or [bundled.for_skeleton(folder.spec.name, "lifter")]:
            model = Lifter.load(path)
            if not (model.input_spec.same_layout(in_spec) and model.output_spec.same_layout(folder.spec)):
                raise ValueError(f"{path} lifts {model.input_spec.name!r} to {model.output_spec.name!r}; "
                                 f"{args.data} needs {in_spec.name!r} to {folder.spec.name!r}")
            w = model.config.window
            r = evaluate_lifter(model, clips, reg, in_spec, folder.spec, w, args.overlap, seed=args.seed,
                                flip=not args.no_flip)
            r["flip"] = not args.no_flip
            results[f"{model.config.backbone} ({Path(path).parent.name}, window {w})"] = r
    except (DataError, CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    how = ("as seen only (`--no-flip`)" if args.no_flip else
           "as seen and mirrored, the two averaged (flip test, as lift.py does; `--no-flip`: as seen only)")
    table = f"{markdown_table(results)}\n\nEach clip is lifted {how}."
    write_report(args.out, results, table)
    print(table)


if __name__ == "__main__":
    main()
