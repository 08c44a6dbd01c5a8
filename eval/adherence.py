"""Does generated motion do what the text says? Contrasting prompt pairs, phrased as the zoo's captions phrase them
("seen") and in several phrasings its captions never use ("new 1", "new 2", ...), each checked on a quantity read
from the motion:

    direction  forward distance in the body's own frame: "ahead" > 0 > "reverse"
    turn       heading change: left > 0 > right
    speed      mean ground speed: fast > slow
    jump       highest rise of the root above its start: jump > stand still
    sit        final root height over the starting one: sit < stand still

For each probe and species, `samples` seeds each give one (A, B) pair; the score is the share of pairs that
satisfy the check. Chance is about 1/2 for the ordering checks and about 1/4 for the sign checks.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from utils.skeleton import SkeletonSpec


@dataclass(frozen=True)
class Probe:
    name: str
    seen: tuple[str, str]  # (A, B) prompts in the zoo's phrasing; {n} is the performer
    new: tuple[tuple[str, str], ...]  # the same contrast in several phrasings the zoo's captions never use
    check: str  # "sign": a > 0 > b; "greater": a > b; "less": a < b


# The first new pair of each probe came first; the others were written together, before any was scored, so that
# one lucky or unlucky idiom does not stand for the whole contrast (README: "Following the text").
PROBES = (
    Probe("direction", ("a {n} walks forward", "a {n} walks backward"),
          (("the {n} presses onward", "the {n} goes in reverse"), ("the {n} advances", "the {n} backpedals"),
           ("the {n} makes its way frontward", "the {n} edges rearward"),
           ("the {n} sets off onward", "the {n} withdraws rearward")), "sign"),
    Probe("turn", ("a {n} walks and turns left 90 degrees", "a {n} walks and turns right 90 degrees"),
          (("the {n} swings round toward its left-hand side", "the {n} swings round toward its right-hand side"),
           ("the {n} veers to port", "the {n} veers to starboard"),
           ("the {n} wheels counterclockwise", "the {n} wheels clockwise"),
           ("the {n} bears left", "the {n} bears right")), "sign"),
    Probe("speed", ("a {n} runs quickly", "a {n} walks slowly"),
          (("the {n} tears along flat out", "the {n} dawdles at a crawl"),
           ("the {n} zooms along", "the {n} inches along"),
           ("the {n} hurtles ahead at full tilt", "the {n} creeps along at a snail's pace"),
           ("the {n} goes like the wind", "the {n} moseys along"),
           ("the {n} scurries off at top speed", "the {n} toddles along in no rush")), "greater"),
    Probe("jump", ("a {n} jumps in place", "a {n} stands still"),
          (("the {n} bounces way up", "the {n} stays motionless"),
           ("the {n} vaults upward on the spot", "the {n} keeps perfectly still"),
           ("the {n} leaps into the air", "the {n} remains frozen"),
           ("the {n} springs aloft", "the {n} is stock-still")),
          "greater"),
    Probe("sit", ("a {n} sits down", "a {n} stands still"),
          (("the {n} plonks its bottom down", "the {n} stays motionless"),
           ("the {n} parks itself on its backside", "the {n} stays motionless"),
           ("the {n} drops onto its rear end", "the {n} keeps perfectly still"),
           ("the {n} perches on a bench", "the {n} remains upright without moving")), "less"),
)


def phrasings(probe: Probe) -> dict[str, tuple[str, str]]:
    """Result key ("seen", "new 1", "new 2", ...) -> (A, B) prompt pair."""
    return {"seen": probe.seen, **{f"new {k + 1}": pair for k, pair in enumerate(probe.new)}}


def measures(spec: SkeletonSpec) -> dict[str, Callable[[np.ndarray, np.ndarray], float]]:
    """probe name -> f(features (T, D), joints (T, J, 3)) -> the quantity it checks."""
    s = spec.slices
    yaw, vx = s.root_rot_vel.start, s.root_lin_vel.start
    return {
        "direction": lambda x, j: float(x[:, vx + 1].sum()),
        "turn": lambda x, j: float(-2 * x[:, yaw].sum()),  # features turn clockwise-positive; left is positive here
        "speed": lambda x, j: float(np.linalg.norm(x[:, vx:vx + 2], axis=-1).mean() * spec.fps),
        "jump": lambda x, j: float(j[:, 0, 1].max() - j[0, 0, 1]),
        "sit": lambda x, j: float(j[-8:, 0, 1].mean() / max(j[:8, 0, 1].mean(), 1e-6)),
    }


def passes(check: str, a: float, b: float) -> bool:
    return {"sign": a > 0 > b, "greater": a > b, "less": a < b}[check]


def run_probes(pipe, performers: dict[str, tuple[str, str]], samples: int = 10, seed: int = 0, frames: int = 120,
               **sampling) -> dict:
    """performers: species -> (noun used in the prompts, gender); results per probe, phrasing and species.
    Every motion is `frames` long (6 s at 20 fps; cut to the model's maximum)."""
    measure = measures(pipe.spec)
    frames = min(frames, pipe.max_frames)
    results = {}
    for probe in PROBES:
        for phrasing, pair in phrasings(probe).items():
            row = {}
            for species, (noun, gender) in performers.items():
                a_text, b_text = (t.format(n=noun) for t in pair)
                texts = [a_text] * samples + [b_text] * samples
                seeds = [seed + k for k in range(samples)] * 2
                gen = pipe.generate(texts, [species] * len(texts), [gender] * len(texts), [frames] * len(texts),
                                    seeds=seeds, **sampling)
                vals = [measure[probe.name](m.features, m.joints) for m in gen]
                ok = [passes(probe.check, vals[k], vals[samples + k]) for k in range(samples)]
                row[species] = {"score": float(np.mean(ok)), "a": a_text, "b": b_text,
                                "a_mean": float(np.mean(vals[:samples])), "b_mean": float(np.mean(vals[samples:]))}
            results[f"{probe.name}/{phrasing}"] = row
    return results


def summary(results: dict) -> dict[str, dict[str, dict[str, float]]]:
    """probe -> "seen" / "new" -> species -> score; "new" is the mean over the probe's new phrasings."""
    out: dict[str, dict[str, dict[str, list[float]]]] = {}
    for key, row in results.items():
        name, phrasing = key.split("/")
        group = out.setdefault(name, {}).setdefault(phrasing.split()[0], {})
        for species, r in row.items():
            group.setdefault(species, []).append(r["score"])
    return {name: {ph: {s: float(np.mean(v)) for s, v in g.items()} for ph, g in groups.items()}
            for name, groups in out.items()}


def markdown_table(results: dict) -> str:
    """The summary (new phrasings averaged), then every phrasing."""
    species = sorted({s for row in results.values() for s in row})
    head = " | ".join(species) + " | mean |"
    lines = ["| probe | phrasing | " + head, "|---|---|" + "---|" * (len(species) + 1)]
    for name, groups in summary(results).items():
        for phrasing, row in groups.items():
            n = sum(key.startswith(f"{name}/{phrasing}") for key in results)
            label = phrasing if phrasing == "seen" else f"new (mean of {n})"
            cells = [f"{row[s]:.0%}" if s in row else "" for s in species]
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + f" | {np.mean(list(row.values())):.0%} |")
    lines += ["", "| probe | phrasing | A / B | " + head, "|---|---|---|" + "---|" * (len(species) + 1)]
    for key, row in results.items():
        name, phrasing = key.split("/")
        first = next(iter(row.values()))
        scores = [row[s]["score"] for s in species if s in row]
        cells = [f"{row[s]['score']:.0%}" if s in row else "" for s in species]
        lines.append(f"| {name} | {phrasing} | {first['a']} / {first['b']} | " + " | ".join(cells)
                     + f" | {np.mean(scores):.0%} |")
    return "\n".join(lines)
