"""Throughput, FLOP rate and peak memory of every component except generation (bench/t2m_speed.py does that):
tokenizer encode + decode, lifting, one training step of each trainer; float32 and bfloat16 autocast.

    python bench/components.py [--threads 2] [--out results/bench_components]
    python bench/components.py --only tokenizer lifter         # a subset

Each measurement runs in a process of its own so that its peak resident memory (ru_maxrss) is its own. The
bundled models are timed (checkpoints/people, checkpoints/animals); trainers run on the zoo for --train-steps steps
after a warm-up, steps/s read from their own metrics.csv. A 2048 x 2048 matmul is timed in the same run as the
yardstick: achieved GFLOP/s (counted by torch.utils.flop_counter) is reported against it.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.t2m_speed import default_device, matmul_peak, synchronize  # noqa: E402
from models import bundled  # noqa: E402
from utils.io import write_report  # noqa: E402

ZOO = ROOT / "data" / "zoo"
FRAMES = 196


def _autocast(bf16: bool, device: torch.device):
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def _timed(fn, repeats: int, device: torch.device) -> tuple[float, float]:
    """-> (median seconds, FLOPs of one call)."""
    fn()  # warm-up
    with FlopCounterMode(display=False) as counter:
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), counter.get_total_flops()


def bench_tokenizer(dataset: str, batch: int, bf16: bool, repeats: int, device: torch.device) -> dict:
    """Encode + decode of `batch` clips of 196 frames with the bundled tokenizer (the condition embedded once)."""
    from models.text_encoder import condition_texts, load_text_encoder
    from models.vq.rvqvae import RVQVAE
    model = RVQVAE.load(bundled.bundled(dataset, "tokenizer"), map_location=device)
    species = "human" if dataset == "people" else "dog"
    encoder = load_text_encoder(model.config.text_encoder, device=device)
    cond = encoder(condition_texts([species] * batch, ["male"] * batch))
    x = torch.randn(batch, FRAMES, model.spec.feature_dim, device=device)

    def run():
        with torch.no_grad(), _autocast(bf16, device):
            model.decode(model.encode(x, cond), cond)
    secs, flops = _timed(run, repeats, device)
    return {"frames_per_s": batch * FRAMES / secs, "ms_per_clip": 1000 * secs / batch, "gflops": flops / secs / 1e9}


def bench_lifter(dataset: str, frames: int, bf16: bool, repeats: int, device: torch.device) -> dict:
    """lift.py's core (overlapping windows, blended) on one long sequence with the bundled lifter."""
    from lift import lift_keypoints
    from models.lifter import Lifter
    model = Lifter.load(bundled.bundled(dataset, "lifter"), map_location=device)
    rng = np.random.default_rng(0)
    J = model.input_spec.num_joints
    kp = np.concatenate([rng.uniform(100, 500, (frames, J, 2)), rng.uniform(0.5, 1, (frames, J, 1))], -1)

    def run():
        with torch.no_grad(), _autocast(bf16, device):
            lift_keypoints(model, kp)
    secs, flops = _timed(run, repeats, device)
    return {"frames_per_s": frames / secs, "gflops": flops / secs / 1e9}


TRAINERS = {  # name -> (module, arguments besides the common ones); TOK is the bundled tokenizer
    "vq": ("train_vq", ["--config", "cpu"]),
    "t2m": ("train_t2m_transformer", ["--tokenizer", "TOK", "--config", "cpu"]),
    "res": ("train_res_transformer", ["--tokenizer", "TOK", "--config", "cpu"]),
    "lifter": ("train_lifter", []),
    "evaluator": ("train_evaluator", []),
}


def bench_trainer(name: str, dataset: str, bf16: bool, steps: int, threads: int) -> dict:
    """Run the trainer for `steps` steps logging every 10; steps/s from its metrics.csv without the first row."""
    import importlib
    if not (ZOO / dataset).is_dir():
        raise SystemExit(f"error: {ZOO / dataset} does not exist; build the zoo first (make zoo)")
    with tempfile.TemporaryDirectory() as tmp:
        module, extra = TRAINERS[name]
        tok = str(bundled.bundled(dataset, "tokenizer"))
        argv = [tok if a == "TOK" else a for a in extra]
        argv += ["--data", str(ZOO / dataset), "--out", str(Path(tmp) / "run")]
        argv += ["--max-steps", str(steps), "--log-every", "10", "--val-every", str(10 * steps), "--ckpt-every",
                 str(10 * steps), "--no-progress", "--threads", str(threads), "--mixed-precision",
                 "bf16" if bf16 else "no"]
        with contextlib.redirect_stdout(io.StringIO()):
            importlib.import_module(module).main(argv)
        with open(Path(tmp) / "run" / "metrics.csv") as f:
            rows = [float(r["steps_per_s"]) for r in csv.DictReader(f) if r.get("steps_per_s")]
    return {"steps_per_s": statistics.median(rows[1:] or rows)}


def one(kind: str, dataset: str, bf16: bool, args) -> dict:
    torch.set_num_threads(args.threads)
    device = default_device(args.device)
    if kind == "tokenizer":
        r = {f"batch{b}": bench_tokenizer(dataset, b, bf16, args.repeats, device) for b in (1, 32)}
    elif kind == "lift":
        r = bench_lifter(dataset, args.lift_frames, bf16, args.repeats, device)
    else:
        r = bench_trainer(kind.removeprefix("train_"), dataset, bf16, args.train_steps, args.threads)
    r["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # host memory
    if device.type == "cuda":
        r["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return r


JOBS = [("tokenizer", "people"), ("tokenizer", "animals"), ("lift", "people"), ("lift", "animals"),
        *((f"train_{name}", "people") for name in TRAINERS)]


def _memory(res: dict) -> str:
    cuda = f" + {res['peak_cuda_mb']:.0f} MB CUDA" if "peak_cuda_mb" in res else ""
    return f"{res['peak_mb']:.0f} MB{cuda}"


def table(rows: list[dict], peak: dict, threads: int) -> str:
    lines = ["| component | data | precision | throughput | achieved GFLOP/s (share of matmul peak) | peak memory |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        prec = "bf16 autocast" if r["bf16"] else "fp32"
        p = peak["bf16" if r["bf16"] else "fp32"]
        res = r["result"]
        if r["kind"] == "tokenizer":
            for b in ("batch1", "batch32"):
                x = res[b]
                lines.append(f"| tokenizer encode+decode, {b.replace('batch', 'batch ')} x 196 frames | {r['dataset']} "
                             f"| {prec} | {x['frames_per_s']:,.0f} frames/s ({x['ms_per_clip']:.1f} ms/clip) | "
                             f"{x['gflops']:.0f} ({x['gflops'] / p:.0%}) | {_memory(res)} |")
        elif r["kind"] == "lift":
            lines.append(f"| lifting ({r['frames']} frames, windows blended) | {r['dataset']} | {prec} | "
                         f"{res['frames_per_s']:,.0f} frames/s | {res['gflops']:.0f} ({res['gflops'] / p:.0%}) | "
                         f"{_memory(res)} |")
        else:
            lines.append(f"| {TRAINERS[r['kind'].removeprefix('train_')][0]}.py, one training step | {r['dataset']} | "
                         f"{prec} | {res['steps_per_s']:.2f} steps/s | - | {_memory(res)} |")
    lines.append(f"\n{threads} threads, torch {torch.__version__}; 2048 x 2048 matmul in the same run: "
                 f"{peak['fp32']:.0f} GFLOP/s float32, {peak['bf16']:.0f} GFLOP/s bfloat16")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--lift-frames", type=int, default=1000)
    p.add_argument("--train-steps", type=int, default=40)
    p.add_argument("--only", nargs="+", choices=[k for k, _ in JOBS], help="kinds to run (default: all)")
    p.add_argument("--device", help="cpu or cuda (default: cuda when present); the trainers pick theirs as usual")
    p.add_argument("--out", help="write OUT.json and OUT.md")
    p.add_argument("--one", nargs=3, metavar=("KIND", "DATASET", "BF16"), help=argparse.SUPPRESS)
    p.add_argument("--render", help="rewrite OUT.md from a earlier run's JSON (no measuring)")
    args = p.parse_args()
    if args.render:
        done = json.loads(Path(args.render).read_text())
        text = table(done["rows"], done["matmul_gflops"], done["threads"])
        write_report(args.out or Path(args.render).with_suffix(""), done, text)
        print(text)
        return
    if args.one:
        kind, dataset, bf16 = args.one
        print(json.dumps(one(kind, dataset, bf16 == "1", args)))
        return
    torch.set_num_threads(args.threads)
    device = default_device(args.device)
    peak = {"fp32": matmul_peak(torch.float32, device), "bf16": matmul_peak(torch.bfloat16, device)}
    print(f"matmul peak now: {peak['fp32']:.0f} GFLOP/s float32, {peak['bf16']:.0f} GFLOP/s bfloat16", flush=True)
    rows = []
    for kind, dataset in JOBS:
        if args.only and kind not in args.only:
            continue
        for bf16 in (False, True):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--one", kind, dataset, str(int(bf16)),
                   "--threads", str(args.threads), "--repeats", str(args.repeats), "--lift-frames",
                   str(args.lift_frames), "--train-steps", str(args.train_steps), "--device", str(device)]
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(f"error: {' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            rows.append({"kind": kind, "dataset": dataset, "bf16": bf16, "frames": args.lift_frames,
                         "result": result})
            print(table(rows[-1:], peak, args.threads).splitlines()[2], flush=True)
    text = table(rows, peak, args.threads)
    print(text)
    if args.out:
        write_report(args.out, {"threads": args.threads, "matmul_gflops": peak, "rows": rows}, text)


if __name__ == "__main__":
    main()
