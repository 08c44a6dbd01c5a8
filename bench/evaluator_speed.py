"""Training-step time of the text-motion evaluator at a few sizes (one AdamW step, 64 clips x 196 frames).

    python bench/evaluator_speed.py [--threads 2]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from eval.evaluator import EvaluatorConfig, TextMotionEvaluator  # noqa: E402

SIZES = {
    "stride 2, cpu backbone": dict(frame_stride=2, backbone="cpu"),
    "stride 4, cpu backbone": dict(frame_stride=4, backbone="cpu"),
    "stride 4, small backbone (default)": dict(frame_stride=4, backbone="small"),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--frames", type=int, default=196)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print("| evaluator size | s per step (best of 3) | steps per hour |")
    print("|---|---|---|")
    for name, kw in SIZES.items():
        torch.manual_seed(0)
        model = TextMotionEvaluator(EvaluatorConfig(**kw)).train()
        x = torch.randn(args.batch, args.frames, model.spec.feature_dim) * 0.1
        lengths = torch.full((args.batch,), args.frames)
        text = torch.randn(args.batch, 384)
        opt = torch.optim.AdamW(model.parameters())
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            loss = model.contrastive_loss(model.encode_motion(x, lengths), model.encode_text(text), text)
            opt.zero_grad()
            loss.backward()
            opt.step()
            times.append(time.perf_counter() - t0)
        print(f"| {name} | {min(times):.2f} | {3600 / min(times):.0f} |")


if __name__ == "__main__":
    main()
