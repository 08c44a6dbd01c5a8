"""`python -m utils.zoo build|stats|preview`: build the embedded data set, describe it, look at it."""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m utils.zoo", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("build", help="generate data/zoo/animals (animo30) and data/zoo/people (humanml22)")
    b.add_argument("--out", type=Path, default=Path("data/zoo"))
    b.add_argument("--small", action="store_true", help="a few hundred clips, for tests")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--max-frames", type=int, default=196)
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--animals", type=int, default=None, help="number of animal clips (default: size preset)")
    b.add_argument("--people", type=int, default=None, help="number of human clips (default: size preset)")

    s = sub.add_parser("stats", help="counts, lengths, vocabulary, foot skating and penetration")
    s.add_argument("--root", type=Path, default=Path("data/zoo"))
    s.add_argument("--json", action="store_true", help="print the raw numbers as JSON")

    v = sub.add_parser("preview", help="a contact sheet PNG and short videos of chosen clips")
    v.add_argument("--root", type=Path, default=Path("data/zoo"))
    v.add_argument("--out", type=Path, default=Path("outputs/zoo/contact_sheet.png"))
    v.add_argument("--clips", nargs="*", default=None, help="clip IDs (A000012, H000034 ...); default: a spread")
    v.add_argument("-n", type=int, default=12, help="clips on the sheet when --clips is not given")
    v.add_argument("--cols", type=int, default=4)
    v.add_argument("--dpi", type=int, default=60)
    v.add_argument("--videos", nargs="*", default=[], help="clip IDs to render as mp4 next to the sheet")

    args = p.parse_args(argv)
    try:
        return _run(args)
    except (ValueError, FileNotFoundError) as e:
        p.error(str(e))
    return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "build":
        from utils.zoo.build import build_zoo

        t0 = time.time()
        build_zoo(args.out, small=args.small, seed=args.seed, max_frames=args.max_frames, workers=args.workers,
                  animals=args.animals, people=args.people)
        print(f"built {args.out} in {time.time() - t0:.1f} s")
    elif args.command == "stats":
        from utils.zoo.stats import format_stats, zoo_stats

        st = zoo_stats(args.root)
        print(json.dumps(st, indent=1) if args.json else format_stats(st))
    else:
        from utils.zoo.preview import contact_sheet, video

        sheet = contact_sheet(args.root, args.out, args.clips, n=args.n, cols=args.cols, dpi=args.dpi)
        print(f"wrote {sheet}")
        for cid in args.videos:
            print(f"wrote {video(args.root, cid, args.out.parent / f'{cid}.mp4')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
