"""Evaluate a trained tokenizer on a data set split: MPJPE (all, per species, first-k layers), codebook usage and
perplexity per layer, foot skating, and the effect of a wrong species condition.

    python eval_vq.py --checkpoint runs/vq_animals/model.safetensors --data data/zoo/animals --out results/vq
"""
from __future__ import annotations

import argparse
from pathlib import Path

from eval.vq import evaluate_tokenizer, markdown_table
from models import bundled
from models.checkpoint import CheckpointError
from models.vq.rvqvae import RVQVAE
from utils.dataset import DataError, MotionFolder
from utils.io import write_report


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", nargs="+", help="tokenizer .safetensors, one per --data (default: the bundled "
                                                   "tokenizer for each data set's skeleton)")
    p.add_argument("--data", required=True, nargs="+", help="data set folder(s), one per checkpoint")
    p.add_argument("--split", default="test")
    p.add_argument("--out", required=True, help="writes OUT.json and OUT.md")
    p.add_argument("--device")
    p.add_argument("--max-items", type=int, help="evaluate only the first N items of the split")
    args = p.parse_args(argv)
    if args.checkpoint and len(args.checkpoint) != len(args.data):
        raise SystemExit("error: give one --checkpoint per --data folder")
    results = {}
    try:
        for n, data in enumerate(args.data):
            folder = MotionFolder(data)
            ckpt = (args.checkpoint[n] if args.checkpoint else
                    bundled.for_skeleton(folder.spec.name, "tokenizer"))
            model = RVQVAE.load(ckpt)
            if not folder.spec.same_layout(model.spec):
                raise ValueError(f"{ckpt} was trained on skeleton {model.spec.name!r} but {data} holds "
                                 f"{folder.spec.name!r} motions")
            items = folder.load_split(args.split)[: args.max_items]
            results[f"{Path(data).name}/{args.split}"] = evaluate_tokenizer(model, items, device=args.device)
    except (DataError, CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    table = markdown_table(results)
    write_report(args.out, results, table)
    print(table)


if __name__ == "__main__":
    main()
