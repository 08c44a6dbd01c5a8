"""Check that generated motion follows what the text says about direction, turning, speed and action, with
prompts in the zoo's phrasing and in words its captions never use (eval/adherence.py lists them).

    python eval_adherence.py --checkpoints DIR --species dog cat horse --out results/adherence_animals
    python eval_adherence.py --tokenizer ... --transformer ... --residual ... --species human --out ...
"""
from __future__ import annotations

import argparse

from eval.adherence import markdown_table, run_probes
from gen_t2m import add_sampling_args, decoding_kwargs, pipeline_from
from models.checkpoint import CheckpointError
from utils.io import write_report

NOUNS = {"human": "person"}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--species", nargs="+", default=["dog", "cat", "horse"])
    p.add_argument("--gender", default="male")
    p.add_argument("--samples", type=int, default=10, help="seeds per prompt pair")
    p.add_argument("--out", required=True)
    add_sampling_args(p)
    args = p.parse_args(argv)
    try:
        pipe = pipeline_from(args, args.species[0])
        performers = {s: (NOUNS.get(s, s), args.gender) for s in args.species}
        results = run_probes(pipe, performers, samples=args.samples, seed=args.seed, **decoding_kwargs(args))
    except (CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    table = markdown_table(results)
    write_report(args.out, results, table)
    print(table)


if __name__ == "__main__":
    main()
