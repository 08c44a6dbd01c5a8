"""Text-to-motion latency per prompt, split by stage: text encoding, masked transformer (all decoding steps),
residual transformer, tokenizer decoding. 196 frames (49 tokens), 10 steps, each inference precision of
T2MPipeline (float32; bfloat16 weights; the transformers' blocks in int8, the rest as bfloat16), the first two also
with the transformers compiled (--compile), batch 1 and 32, and two guidance settings: MoMask's (4 on the base
layer, 5 on the residual layers, both branches of each in one batched forward) and our defaults
(pipeline.GUIDANCE / RES_GUIDANCE: the residual layers unguided, so they run one branch).

    python bench/t2m_speed.py [--sizes momask cpu] [--batches 1 32] [--guidance momask ours] [--threads 2] \
        [--precisions fp32 bf16 int8] [--compile] [--text-words 0 48] [--out results/bench_t2m]

The first call of each setting is a warm-up, not timed; its seconds are reported (with --compile they include
compiling for that batch shape).

Sizes: `momask` is MoMask's released size (RVQ 6 x 512 codes at width 512 on HumanML3D's 263 features,
transformers latent 384 / 8 layers / 6 heads / ff 1024, CLIP ViT-B/32 text encoder); `cpu` is our default
(the zoo models' sizes, MiniLM). `--text-words N [N ...]` times the masked transformer reading N per-word
features of the prompt, each N in turn (default 0: MoMask's architecture has none; train_t2m_transformer.py's
default and the bundled models read 48). Weights are freshly initialised: the work does not depend on their values.
Every timed call has prompts never seen before (the text encoders keep what they have encoded, so a repeated prompt
would cost nothing); the species and gender names recur, as they do in use.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from models.checkpoint import weights_digest  # noqa: E402
from models.mask_transformer.mask_transformer import MaskTransformer, MaskTransformerConfig, \
    transformer_config  # noqa: E402
from models.mask_transformer.pipeline import GUIDANCE, PRECISIONS, RES_GUIDANCE, T2MPipeline  # noqa: E402
from models.mask_transformer.residual_transformer import ResidualTransformer, \
    ResidualTransformerConfig  # noqa: E402
from models.text_encoder import TEXT_ENCODER_DIMS  # noqa: E402
from models.vq.rvqvae import create_rvqvae  # noqa: E402
from utils.io import write_report  # noqa: E402

SIZES = {"momask": ("momask", "momask", "clip"), "cpu": ("cpu", "cpu", "minilm")}  # vq, transformers, text
PROMPT = "a person walks forward, turns around and jumps twice"
STAGES = ("text", "mask_transformer", "residual_transformer", "decode")
GUIDANCE_SETS = {"momask": (4.0, 5.0), "ours": (GUIDANCE, RES_GUIDANCE)}  # base layer, residual layers
PRECISION_LABELS = {"fp32": "fp32", "bf16": "bf16 weights", "int8": "int8 blocks"}


def build(size: str, device: torch.device, text_words: int = 0) -> T2MPipeline:
    vq_name, t_name, text = SIZES[size]
    torch.manual_seed(0)
    tok = create_rvqvae(vq_name, skeleton="humanml22", text_encoder=text, cond_dim=TEXT_ENCODER_DIMS[text]).eval()
    common = dict(num_tokens=tok.config.codebook_size, num_quantizers=tok.config.num_quantizers, max_tokens=49,
                  text_encoder=text, cond_dim=TEXT_ENCODER_DIMS[text], skeleton="humanml22",
                  tokenizer_sha256=weights_digest(tok))
    mask = MaskTransformer(transformer_config(MaskTransformerConfig, t_name, text_words=text_words, **common))
    res = ResidualTransformer(transformer_config(ResidualTransformerConfig, t_name, **common))
    return T2MPipeline(tok, mask, res, device=device, text_encoder_path="random")  # MiniLM ignores it


def default_device(name: str | None) -> torch.device:
    return torch.device(name) if name else torch.device("cuda" if torch.cuda.is_available() else "cpu")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(dtype: torch.dtype, device: torch.device = torch.device("cpu"), n: int = 2048,
                reps: int = 10) -> float:
    """GFLOP/s of an n x n matmul in `dtype` on `device` now: the yardstick for the latencies of the same run."""
    a, b = torch.randn(n, n, device=device).to(dtype), torch.randn(n, n, device=device).to(dtype)
    for _ in range(3):
        a @ b
    synchronize(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    synchronize(device)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def time_call(pipe: T2MPipeline, batch: int, precision: str, repeats: int, guidance: tuple[float, float],
              flops: float | None = None) -> dict:
    """Median ms per prompt, total and by stage, the first call's seconds (with compiling, if any) and the FLOPs
    of one call (counted here, in float32, unless given: every precision and a compiled pipeline do the same work,
    and torch's FLOP counter does not see int8 products)."""
    def prompts(tag: str) -> tuple[list[str], list[str], list[str]]:
        # texts never seen before, so that every one is encoded (the text encoders keep what they have encoded);
        # the species and gender names are met in every call, as they are in use, and are encoded once
        return [f"{PROMPT} ({tag}, {k})" for k in range(batch)], ["human"] * batch, ["male"] * batch

    kw = dict(lengths=[196] * batch, steps=10, guidance=guidance[0], res_guidance=guidance[1], precision=precision)
    tag = f"{precision} {guidance} {pipe.compile}"
    t0 = time.perf_counter()
    pipe.generate(*prompts(f"warm-up {tag}"), **kw)
    first = time.perf_counter() - t0
    if flops is None:
        with FlopCounterMode(display=False) as counter:
            pipe.generate(*prompts(f"flops {tag}"), **{**kw, "precision": "fp32"})
        flops = counter.get_total_flops()
    runs = []
    for r in range(repeats):
        timings: dict[str, float] = {}
        args = prompts(f"{r} {tag}")
        t0 = time.perf_counter()
        pipe.generate(*args, seed=r, timings=timings, **kw)
        synchronize(pipe.device)
        timings["total"] = time.perf_counter() - t0
        runs.append(timings)
    med = {k: statistics.median(run[k] for run in runs) for k in ("total",) + STAGES}
    return {**{k: 1000 * v / batch for k, v in med.items()},  # ms per prompt
            "first_call_s": first, "flops": flops, "gflops": flops / med["total"] / 1e9}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", nargs="+", default=["momask", "cpu"], choices=sorted(SIZES))
    p.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    p.add_argument("--guidance", nargs="+", default=list(GUIDANCE_SETS), choices=list(GUIDANCE_SETS),
                   help="guidance settings to time")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--text-words", nargs="+", type=int, default=[0],
                   help="per-word features the masked transformer attends to, one setting per value (default 0, "
                        "MoMask's architecture; the bundled models read 48)")
    p.add_argument("--precisions", nargs="+", default=list(PRECISIONS), choices=PRECISIONS,
                   help="inference precisions to time (T2MPipeline.generate; int8 on a CPU only)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present)")
    p.add_argument("--compile", action="store_true",
                   help="also time the pipeline with compiled transformers (T2MPipeline(compile=True))")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = default_device(args.device)
    peak = {"fp32": matmul_peak(torch.float32, device), "bf16": matmul_peak(torch.bfloat16, device)}
    print(f"matmul peak now: {peak['fp32']:.0f} GFLOP/s float32, {peak['bf16']:.0f} GFLOP/s bfloat16", flush=True)
    rows = []
    lines = ["| size | guidance (base / residual) | batch | precision | ms / prompt | text | masked (10 steps) | "
             "residual | decode | achieved GFLOP/s (share of matmul peak) | first call s |", "|" + "---|" * 11]
    for size, text_words in ((s, w) for s in args.sizes for w in args.text_words):
        pipe = build(size, device, text_words)
        label = f"{size}, {text_words} words" if text_words else size
        for name in args.guidance:
            scales = GUIDANCE_SETS[name]
            for batch in args.batches:
                flops = None
                for precision in args.precisions:
                    for compiled in [False] + [True] * (args.compile and precision != "int8"):
                        run = pipe
                        if compiled:  # the same modules, compiled afresh for this setting, as a process would
                            torch.compiler.reset()
                            run = T2MPipeline(pipe.tokenizer, pipe.transformer, pipe.residual, device=device,
                                              compile=True)
                        r = time_call(run, batch, precision, args.repeats, scales, flops)
                        flops = r["flops"]
                        shown = PRECISION_LABELS[precision] + (", compiled" if compiled else "")
                        rows.append({"size": size, "text_words": text_words, "guidance": name, "scales": scales,
                                     "batch": batch, "precision": precision + (", compiled" if compiled else ""),
                                     **r})
                        top = peak["fp32" if precision == "fp32" else "bf16"]
                        lines.append(f"| {label} | {name}: {scales[0]:g} / {scales[1]:g} | {batch} | "
                                     f"{shown} | **{r['total']:.1f}** | "
                                     + " | ".join(f"{r[s]:.1f}" for s in STAGES)
                                     + f" | {r['gflops']:.0f} ({r['gflops'] / top:.0%}) | {r['first_call_s']:.1f} |")
                        print(lines[-1], flush=True)
    table = "\n".join(lines)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {args.threads} threads"
    table += (f"\n\n{where}, torch {torch.__version__}; 2048 x 2048 matmul in the same run: "
              f"{peak['fp32']:.0f} GFLOP/s float32, {peak['bf16']:.0f} GFLOP/s bfloat16 (the share of the int8 rows "
              f"is of the bfloat16 peak)")
    print(table)
    if args.out:
        write_report(args.out, {"device": str(device), "threads": args.threads, "matmul_gflops": peak, "rows": rows},
                     table)


if __name__ == "__main__":
    main()
