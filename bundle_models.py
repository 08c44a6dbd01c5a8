"""Bundle trained runs into a checkpoint folder the demo and every command use by default.

    python bundle_models.py                       # runs/{vq,t2m,res,lift,eval}_{animals,people} -> checkpoints/
    python bundle_models.py --runs runs --out checkpoints --dtype float32

For each data set (animals, people) it writes OUT/NAME/{tokenizer, mask_transformer, residual_transformer,
length_estimator, body_estimator, lifter, evaluator}.safetensors (the last five only when their runs exist) and
OUT/manifest.json (sizes, digests, where each file came from).
Weights are stored in float16 by default (half the bytes; the models load them into float32 and the change of the
results is measured in checkpoints/MODEL_CARD.md). The transformers name the tokenizer whose codes they predict by
its weight digest, so they are re-linked to the stored tokenizer here, after checking that the source pair matched.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from models.bundled import FILES
from models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from models.lifter import KIND as LIFTER_KIND
from models.mask_transformer.body_estimator import KIND as BODY_KIND
from models.mask_transformer.length_estimator import KIND as LENGTH_KIND
from models.mask_transformer.mask_transformer import KIND as MASK_KIND
from models.mask_transformer.residual_transformer import KIND as RESIDUAL_KIND
from models.vq.rvqvae import KIND as TOKENIZER_KIND
from eval.evaluator import KIND as EVALUATOR_KIND
from utils.io import atomic_write_text

# bundled file -> (run folder pattern, file in the run, checkpoint kind)
SOURCES = {
    "tokenizer": ("vq_{}", "model.safetensors", TOKENIZER_KIND),
    "mask_transformer": ("t2m_{}", "model.safetensors", MASK_KIND),
    "residual_transformer": ("res_{}", "model.safetensors", RESIDUAL_KIND),
    "length_estimator": ("t2m_{}", "length_estimator.safetensors", LENGTH_KIND),
    "body_estimator": ("t2m_{}", "body_estimator.safetensors", BODY_KIND),
    "lifter": ("lift_{}", "model.safetensors", LIFTER_KIND),
    "evaluator": ("eval_{}", "model.safetensors", EVALUATOR_KIND),
}
LINKED = ("mask_transformer", "residual_transformer")  # configs that record the tokenizer's digest
# bundled when their run exists
OPTIONAL = ("residual_transformer", "length_estimator", "body_estimator", "lifter", "evaluator")


def cast(state: dict[str, torch.Tensor], dtype: torch.dtype) -> dict[str, torch.Tensor]:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}


def bundle_dataset(runs: Path, name: str, out: Path, dtype: torch.dtype) -> list[dict]:
    """Write OUT/NAME/*.safetensors from RUNS/*_NAME; -> manifest rows."""
    loaded = {}
    for key, (folder, file, kind) in SOURCES.items():
        path = runs / folder.format(name) / file
        if key in OPTIONAL and not path.exists():
            print(f"{name}: no {path}, the bundle has no {key}")
            continue
        loaded[key] = (path, *load_checkpoint(path, kind))  # (path, config, state, extra)
    tok_sha = loaded["tokenizer"][3]["_sha256"]
    for key in (k for k in LINKED if k in loaded):
        recorded = loaded[key][1].get("tokenizer_sha256")
        if recorded and recorded != tok_sha:
            raise CheckpointError(f"{loaded[key][0]} was trained on another tokenizer than {loaded['tokenizer'][0]} "
                                  f"({recorded[:12]} vs {tok_sha[:12]}); retrain it or bundle the matching runs")
    rows, new_tok_sha = [], None
    (out / name).mkdir(parents=True, exist_ok=True)
    for key, (src, config, state, extra) in loaded.items():
        kind = SOURCES[key][2]
        if key in LINKED:
            config = {**config, "tokenizer_sha256": new_tok_sha}
        floats = sorted(k for k, v in state.items() if v.is_floating_point())  # (the file's tensor order varies)
        source = {"file": str(src), "sha256": extra.pop("_sha256"), "dtype": str(state[floats[0]].dtype)}
        dst = out / name / FILES[key]
        if not save_checkpoint(dst, kind, config, cast(state, dtype), {**extra, "bundled_from": source},
                               keep_identical=True):
            print(f"{dst}: unchanged, left as it is")
        sha = load_checkpoint(dst, kind)[2]["_sha256"]  # read back: the file is whole and loads
        if key == "tokenizer":
            new_tok_sha = sha
        rows.append({"file": str(dst.relative_to(out)), "kind": kind, "bytes": dst.stat().st_size,
                     "parameters": sum(t.numel() for t in state.values()), "sha256": sha, "source": source})
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default="runs", help="folder of the training runs")
    p.add_argument("--out", default="checkpoints")
    p.add_argument("--datasets", nargs="+", default=["animals", "people"])
    p.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16")
    p.add_argument("--max-mb", type=float, default=60.0, help="refuse a bundle larger than this")
    args = p.parse_args(argv)
    out = Path(args.out)
    try:
        rows = [r for name in args.datasets
                for r in bundle_dataset(Path(args.runs), name, out, getattr(torch, args.dtype))]
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    total = sum(r["bytes"] for r in rows) / 2**20
    atomic_write_text(out / "manifest.json", json.dumps({"dtype": args.dtype, "total_mb": round(total, 2),
                                                         "files": rows}, indent=1))
    for r in rows:
        print(f"{r['file']:42s} {r['bytes'] / 2**20:6.2f} MB  {r['parameters']:>9,d} parameters")
    print(f"total {total:.2f} MB in {out}")
    if total > args.max_mb:
        raise SystemExit(f"error: the bundle is {total:.1f} MB, over --max-mb {args.max_mb:g}")


if __name__ == "__main__":
    main()
