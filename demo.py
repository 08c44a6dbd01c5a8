"""The demo (`make demo`): motions generated from text by the bundled models, animals and people.

    python demo.py                                # the example prompts below -> outputs/demo
    python demo.py --prompts my_prompts.txt --out outputs/mine --seed 3
    python demo.py --guidance 4 --steps 20 --bf16    # the decoding flags of gen_t2m.py

Writes, per prompt, OUT/NN_species_slug/{joints.npy, features.npy, codes.npy, motion.bvh, motion.mp4,
prompt.json} and OUT/overview.png (a few frames of each), and prints one line per prompt: the length, how far
and how fast the body travelled, where the files are.
A prompts file has one `species#gender#text` per line.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from gen_t2m import add_decoding_args, decoding_kwargs, default_checkpoints, read_prompt_file, slug, write_motion
from models.checkpoint import CheckpointError
from models.mask_transformer.pipeline import T2MPipeline
from utils.bvh import bvh_to_joints
from utils.render import render_filmstrip

PROMPTS = [
    ("horse", "female", "a horse gallops forward quickly"),
    ("dog", "juvenile", "a young dog trots forward, then sits down"),
    ("cat", "male", "a cat walks in a circle"),
    ("elephant", "female", "an elephant walks forward slowly, then lies down"),
    ("human", "juvenile", "a child jumps up and down twice"),
    ("human", "female", "a woman walks forward, then turns left"),
]


def summary(joints: np.ndarray, fps: float) -> str:
    """Seconds, ground distance travelled by the root, mean speed and the root's height range."""
    root = joints[:, 0]
    step = np.linalg.norm(np.diff(root[:, [0, 2]], axis=0), axis=-1)
    secs = len(joints) / fps
    height = root[:, 1]
    return (f"{secs:4.1f} s, travelled {step.sum():5.2f} m at {step.sum() / secs:4.2f} m/s, "
            f"root height {height.min():.2f}-{height.max():.2f} m")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--prompts", help="a file of species#gender#text lines (default: the examples in demo.py)")
    p.add_argument("--out", default="outputs/demo")
    p.add_argument("--seed", type=int, default=0)
    add_decoding_args(p)
    p.add_argument("--device", help="cpu, cuda, ... (default: cuda when present)")
    args = p.parse_args(argv)
    t_start = time.perf_counter()
    sampling = decoding_kwargs(args)
    try:
        prompts = read_prompt_file(args.prompts) if args.prompts else PROMPTS
        groups: dict[Path, list[int]] = {}
        for n, (species, _, _) in enumerate(prompts):
            groups.setdefault(default_checkpoints(species), []).append(n)
        out = Path(args.out)
        strip = []
        for folder, idx in groups.items():
            pipe = T2MPipeline.from_folder(folder, device=args.device)
            t0 = time.perf_counter()
            motions = pipe.generate([prompts[n][2] for n in idx], [prompts[n][0] for n in idx],
                                    [prompts[n][1] for n in idx], seeds=[args.seed + n for n in idx],
                                    **sampling)
            print(f"{folder.name}: generated {len(idx)} motion(s) in {time.perf_counter() - t0:.1f} s")
            for n, m in zip(idx, motions):
                dest = write_motion(m, out / f"{n:02d}_{m.species}_{slug(m.text, 32)}", pipe.spec, True,
                                    {**sampling, "checkpoints": str(folder)})
                bvh = bvh_to_joints(dest / "motion.bvh", pipe.spec)  # write_motion wrote it
                fit = np.linalg.norm(bvh - m.joints, axis=-1).mean() * 1000
                strip.append((n, (m.joints, pipe.spec, f"{m.species} ({m.gender}): {m.text}")))
                print(f"  {m.species:8s} {m.gender:8s} {m.text!r}: {summary(m.joints, pipe.spec.fps)}, "
                      f"BVH fit {fit:.0f} mm -> {dest}/")
        overview = render_filmstrip([row for _, row in sorted(strip, key=lambda x: x[0])], out / "overview.png")
    except (CheckpointError, ValueError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"overview: {overview}")
    print(f"done in {time.perf_counter() - t_start:.1f} s: joints.npy, features.npy, codes.npy, motion.bvh, "
          f"motion.mp4 and prompt.json per motion under {args.out}/")


if __name__ == "__main__":
    main()
