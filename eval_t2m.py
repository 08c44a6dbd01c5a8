"""Evaluate motions against their captions with a trained evaluator (Guo et al. protocol, 20 repeats).

    python eval_t2m.py --evaluator runs/eval_animals/model.safetensors --data data/zoo/animals \\
        [--tokenizer runs/vq_animals/model.safetensors] --out results/t2m_animals

Scores the real test motions (the ceiling) and, with --tokenizer, their reconstructions; writes OUT.json and
OUT.md. Generated motions join once text-to-motion exists.
"""
from __future__ import annotations

import argparse

import numpy as np

from eval.evaluator import TextMotionEvaluator
from eval.t2m import evaluate, markdown_table, real_motions
from models.checkpoint import CheckpointError
from models.text_encoder import CaptionBank
from models.vq.codec import MotionCodec
from utils.dataset import DataError, MotionFolder
from utils.io import write_report


def reconstructions(codec: MotionCodec):
    """A motion source: each item through the tokenizer and back."""
    def source(items, rng: np.random.Generator):
        out = []
        for it in items:
            enc = codec.encode(it.features, it.species, it.gender)
            out.append(codec.decode(enc.codes, it.species, it.gender, enc.frames))
        return out
    return source


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--evaluator", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--tokenizer", help="also score the tokenizer's reconstructions")
    p.add_argument("--split", default="test")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--max-items", type=int)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        evaluator = TextMotionEvaluator.load(args.evaluator)
        folder = MotionFolder(args.data)
        if not folder.spec.same_layout(evaluator.spec):
            raise ValueError(f"{args.evaluator} evaluates {evaluator.spec.name!r} motions, {args.data} holds "
                             f"{folder.spec.name!r}")
        items = folder.load_split(args.split)[: args.max_items]
        sources = {"real": real_motions}
        if args.tokenizer:
            sources["reconstruction"] = reconstructions(MotionCodec.from_checkpoint(args.tokenizer))
        bank = CaptionBank(evaluator.config.text_encoder)
        results = evaluate(evaluator, bank, items, sources, repeats=args.repeats,
                           probe_items=folder.load_split("train"))
    except (DataError, CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    table = markdown_table(results)
    write_report(args.out, results, table)
    print(table)


if __name__ == "__main__":
    main()
