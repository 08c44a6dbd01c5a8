"""Regenerate part of a motion from a text, keeping the rest.

    python edit_t2m.py --source outputs/gen/00_a_dog_walks --span 40:80 --text "a dog jumps in place"
    python edit_t2m.py --source motion.npy --species cat --gender female --suffix 2s --text "the cat lies down"
    python edit_t2m.py --source features.npy --prefix 30 --text "a horse rears up" --anchor pose

--source: a gen_t2m.py output folder (its features.npy and prompt.json), or a features (T, D) / joints (T, J, 3)
.npy. The span is given in frames or seconds ("40:80", "2s:4s", or --prefix / --suffix LENGTH). Frames more than
--boundary (at most 8) frames outside the span are the source's own; with --anchor world (default) they also keep
their world positions, the span's path bending to meet them.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from gen_t2m import add_sampling_args, decoding_kwargs, note_unfamiliar, pipeline_from, write_motion
from models.checkpoint import CheckpointError
from models.mask_transformer.pipeline import parse_frames
from utils.features import joints_to_features


def read_source(path: Path, spec) -> np.ndarray:
    """(T, D) features from a gen_t2m.py folder or a features / joints .npy."""
    if path.is_dir():
        path = path / "features.npy"
    if not path.is_file():
        raise ValueError(f"--source {path} does not exist")
    x = np.load(path)
    if x.ndim == 3:
        if x.shape[1:] != (spec.num_joints, 3):
            raise ValueError(f"--source joints {x.shape} do not fit skeleton {spec.name!r} (T, {spec.num_joints}, 3)")
        x = joints_to_features(x, spec)[0]
    return x


def span_from(args, T: int, fps: float) -> tuple[int, int]:
    given = [x for x in (args.span, args.prefix, args.suffix) if x]
    if len(given) != 1:
        raise ValueError("give exactly one of --span START:END, --prefix LENGTH, --suffix LENGTH")
    if args.span:
        if ":" not in args.span:
            raise ValueError(f"--span {args.span!r} must read START:END (frames, or seconds like 2s:4s)")
        a, b = (parse_frames(v, fps) for v in args.span.split(":", 1))
    elif args.prefix:
        a, b = 0, parse_frames(args.prefix, fps)
    else:
        a, b = T - parse_frames(args.suffix, fps), T
    if not 0 <= a < b <= T:
        raise ValueError(f"the span [{a}, {b}) does not lie inside the source's {T} frames")
    return a, b


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", required=True)
    p.add_argument("--text", required=True, help="what the span should become")
    p.add_argument("--species", help="default: the source's prompt.json, else dog")
    p.add_argument("--gender", help="default: the source's prompt.json, else male")
    p.add_argument("--span", help="START:END in frames, or seconds as 2s:4s")
    p.add_argument("--prefix", help="regenerate the first LENGTH (frames or seconds)")
    p.add_argument("--suffix", help="regenerate the last LENGTH (frames or seconds)")
    p.add_argument("--boundary", type=int, default=8, help="frames blended on each side of the span (0-8)")
    p.add_argument("--anchor", default="world", choices=("world", "pose"))
    p.add_argument("--out", default="outputs/edit")
    add_sampling_args(p)
    args = p.parse_args(argv)
    try:
        src = Path(args.source)
        meta = json.loads((src / "prompt.json").read_text()) if (src / "prompt.json").is_file() else {}
        species = args.species or meta.get("species", "dog")
        gender = args.gender or meta.get("gender", "male")
        pipe = pipeline_from(args, species)
        x = read_source(src, pipe.spec)
        a, b = span_from(args, len(x), pipe.spec.fps)
        unfamiliar = note_unfamiliar(pipe, args.text)
        m = pipe.edit(x, args.text, species, gender, a, b, seed=args.seed, boundary=args.boundary,
                      anchor=args.anchor, **decoding_kwargs(args))
        folder = write_motion(m, Path(args.out), pipe.spec, not args.no_video,
                              {"edited_span": [a, b], "boundary": args.boundary, "anchor": args.anchor,
                               "source": str(src), **decoding_kwargs(args), "unfamiliar_words": unfamiliar})
    except (CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{folder}: frames {a}-{b} of {len(x)} regenerated as {args.text!r} ({species} {gender})")


if __name__ == "__main__":
    main()
