"""Attention kernels on CPU: torch's default scaled_dot_product_attention kernel (flash) against its math kernel,
on the shapes our models use, then whole training steps with and without models.layers.attention's choice, then
bfloat16 inference: the flash kernel against the batched-matmul path models.layers.attention takes there.

    python bench/attention.py [--tables kernels steps bf16] [--threads 2] [--repeats 10] [--out results/bench_attention]

The first table justifies models.layers.MATH_MAX_TOKENS / MATH_MAX_HEAD_DIM; the second measures what the choice
gives a lifter (the default cpu DSTformer, 32 windows of 43 frames) and the cpu tokenizer (batch 32 x 64 frames);
the third justifies BF16_MAX_TOKENS / BF16_MIN_SEQUENCE_HEADS (generation with --bf16).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import models.layers as layers  # noqa: E402
from models.lifter import Lifter, LifterConfig  # noqa: E402
from models.vq.rvqvae import create_rvqvae  # noqa: E402
from utils.io import write_report  # noqa: E402

# (name, N, heads, tokens, head width)
SHAPES = [
    ("lifter cpu, spatial (17 joints)", 32 * 43, 4, 17, 16),
    ("lifter cpu, temporal (43 frames)", 32 * 17, 4, 43, 16),
    ("tokenizer cpu, spatial (30 joints)", 32 * 64, 2, 30, 12),
    ("64 tokens x 16", 320, 4, 64, 16),
    ("96 tokens x 16", 256, 4, 96, 16),
    ("evaluator, temporal (196 frames)", 32 * 30, 4, 196, 8),
    ("17 tokens x 64 (DSTformer full)", 32 * 43, 8, 17, 64),
    ("masked transformer momask (52 x 64)", 64, 6, 52, 64),
]


def best_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * min(times)


def kernel_rows(repeats: int) -> list[dict]:
    rows = []
    for name, n, h, L, c in SHAPES:
        q, k, v = (torch.randn(n, h, L, c, requires_grad=True) for _ in range(3))
        row = {"shape": name, "q": f"({n}, {h}, {L}, {c})",
               "helper picks": "math" if L <= layers.MATH_MAX_TOKENS and c <= layers.MATH_MAX_HEAD_DIM else "default"}
        for kernel in ("default", "math"):
            def fwd():
                if kernel == "math":
                    with sdpa_kernel(SDPBackend.MATH):
                        return F.scaled_dot_product_attention(q, k, v)
                return F.scaled_dot_product_attention(q, k, v)

            def train():
                fwd().square().sum().backward()

            def infer():
                with torch.no_grad():
                    fwd()
            row[f"{kernel} train ms"] = round(best_ms(train, repeats), 1)
            row[f"{kernel} infer ms"] = round(best_ms(infer, repeats), 1)
        rows.append(row)
    return rows


# (name, N, heads, tokens, head width) in bfloat16 inference; N counts both guidance branches
BF16_SHAPES = [
    ("masked transformer momask, batch 32", 64, 6, 52, 64),
    ("masked transformer momask, batch 1", 2, 6, 52, 64),
    ("masked transformer cpu + 48 words, batch 32", 64, 4, 100, 64),
    ("masked transformer cpu + 48 words, batch 1", 2, 4, 100, 64),
    ("128 tokens x 64, 64 sequences", 64, 6, 128, 64),
    ("196 tokens x 64, 64 sequences", 64, 6, 196, 64),
]


def bf16_rows(repeats: int) -> list[dict]:
    rows = []
    for name, n, h, L, c in BF16_SHAPES:
        q, k, v = (torch.randn(n, h, L, c, dtype=torch.bfloat16) for _ in range(3))
        mask = torch.ones(n, 1, 1, L, dtype=torch.bool)
        mask[0, ..., L // 2:] = False  # one padded sequence, as in a batch of lengths
        with torch.no_grad():
            flash = best_ms(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask), repeats)
            matmul = best_ms(lambda: layers._matmul_attention(q, k, v, mask), repeats)
            picks = "matmul" if layers.bf16_matmul_attention(q, k) else "flash"
        rows.append({"shape": name, "q": f"({n}, {h}, {L}, {c})", "helper picks": picks,
                     "flash ms": round(flash, 2), "matmul ms": round(matmul, 2), "speed-up": f"{flash / matmul:.2f}x"})
    return rows


def step_ms(model: torch.nn.Module, batch, loss_fn, repeats: int, chosen: bool) -> float:
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    saved = layers.MATH_MAX_TOKENS
    layers.MATH_MAX_TOKENS = saved if chosen else 0  # 0: every call takes the default kernel

    def step():
        opt.zero_grad()
        loss_fn(model, batch).backward()
        opt.step()
    try:
        return best_ms(step, repeats)
    finally:
        layers.MATH_MAX_TOKENS = saved


def model_rows(repeats: int) -> list[dict]:
    torch.manual_seed(0)
    lifter = Lifter(LifterConfig(output_skeleton="humanml22"))
    x = torch.randn(32, 43, 17, 3)
    vq = create_rvqvae("cpu", "animo30")
    feats = torch.randn(32, 64, vq.spec.feature_dim), torch.randn(32, vq.config.cond_dim)
    cases = [("lifter cpu (h36m17 -> humanml22), 32 x 43 frames", lifter, x, lambda m, b: m(b).square().mean()),
             ("tokenizer cpu (animo30), 32 x 64 frames", vq, feats, lambda m, b: m(*b)["recon"].square().mean())]
    rows = []
    for name, model, batch, loss_fn in cases:
        default = step_ms(model, batch, loss_fn, repeats, chosen=False)
        chosen = step_ms(model, batch, loss_fn, repeats, chosen=True)
        rows.append({"training step": name, "default kernel ms": round(default, 1),
                     "with the helper's choice ms": round(chosen, 1), "speed-up": f"{default / chosen:.2f}x"})
    return rows


def table(rows: list[dict]) -> str:
    keys = list(rows[0])
    return "\n".join([f"| {' | '.join(keys)} |", "|" + "---|" * len(keys)] +
                     [f"| {' | '.join(str(r[k]) for k in keys)} |" for r in rows])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tables", nargs="+", default=["kernels", "steps", "bf16"], choices=["kernels", "steps", "bf16"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--out")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    make = {"kernels": kernel_rows, "steps": model_rows, "bf16": bf16_rows}
    results = {name: make[name](args.repeats) for name in args.tables}
    md = (f"Attention on CPU, {args.threads} threads, best of {args.repeats}; train = forward + backward; bf16 = "
          f"bfloat16 inference.\n\n" + "\n\n".join(table(rows) for rows in results.values()) + "\n")
    print(md)
    if args.out:
        write_report(args.out, {"threads": args.threads, "repeats": args.repeats, **results}, md)


if __name__ == "__main__":
    main()
