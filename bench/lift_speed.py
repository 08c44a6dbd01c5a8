"""Lifting throughput: frames per second of lift.py's core (windows + blending) on a long sequence.

    python bench/lift_speed.py [--checkpoint runs/lift_people/model.safetensors] [--frames 1000] [--threads 2]
        [--no-flip]

Without a checkpoint, a freshly initialised lifter of the default (cpu) size is timed: speed does not depend on
the weights.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lift import lift_keypoints  # noqa: E402
from models.lifter import Lifter, LifterConfig  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint")
    p.add_argument("--frames", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-flip", action="store_true", help="time lift.py --no-flip (no mirrored second view)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = Lifter.load(args.checkpoint) if args.checkpoint else \
        Lifter(LifterConfig(output_skeleton="humanml22")).eval()
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(100, 500, (args.frames, model.input_spec.num_joints, 2)),
                         rng.uniform(0.5, 1, (args.frames, model.input_spec.num_joints, 1))], -1)
    flip = not args.no_flip
    lift_keypoints(model, kp[:200], flip=flip)  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        lift_keypoints(model, kp, flip=flip)
        times.append(time.perf_counter() - t0)
    best = min(times)
    print(f"| lifter | window | flip test | frames | threads | best of {args.repeats} (s) | frames/s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {model.config.backbone} {model.input_spec.name}->{model.output_spec.name} | {model.config.window} | "
          f"{'on' if flip else 'off'} | {args.frames} | {args.threads} | {best:.2f} | {args.frames / best:.0f} |")


if __name__ == "__main__":
    main()
