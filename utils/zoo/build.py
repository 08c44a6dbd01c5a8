"""Build the zoo: plan clips, generate them in parallel, split them and write both data sets.

Each clip is a pure function of (seed, group, index), so the files are byte-identical for a seed whatever the
number of workers. Splits are planned before generation from each clip's species, gender and focus action, so
every species, gender and action is present in train, val and test.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from utils.dataset import Caption, ClipRecord, write_dataset
from utils.features import joints_to_features
from utils.skeleton import ANIMO30, HUMANML22
from utils.zoo.actions import HUMAN_ACTIONS
from utils.zoo.bodies import GENDERS, SPECIES
from utils.zoo.captions import caption_clip
from utils.zoo.motion import make_clip

GROUPS = {"animals": ANIMO30, "people": HUMANML22}
SIZES = {"default": (5000, 3000), "small": (320, 160)}
SPLIT_SHARE = {"val": 0.05, "test": 0.15}


@dataclass(frozen=True)
class ZooConfig:
    out: Path
    small: bool = False
    seed: int = 0
    max_frames: int = 196
    workers: int = 2
    animals: int | None = None  # clip counts; None = the size preset
    people: int | None = None
    fps: float = 20.0

    def __post_init__(self):
        if self.max_frames < 41:
            raise ValueError(f"max_frames must be at least 41 (2 s of features at 20 fps), got {self.max_frames}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        for name in ("animals", "people"):
            n = getattr(self, name)
            if n is not None and n < 0:
                raise ValueError(f"{name} must be >= 0, got {n}")

    def count(self, group: str) -> int:
        preset = SIZES["small" if self.small else "default"]
        n = getattr(self, group)
        return preset[0 if group == "animals" else 1] if n is None else n


@dataclass(frozen=True)
class PlannedClip:
    group: str
    index: int
    species: str
    gender: str
    focus: str

    @property
    def id(self) -> str:
        return f"{'A' if self.group == 'animals' else 'H'}{self.index:06d}"


def plan_clips(group: str, n: int) -> list[PlannedClip]:
    """Clips cycling through every (species, action) pair and, across cycles, every gender."""
    if group == "animals":
        pairs = [(sp, a) for sp, d in SPECIES.items() for a in d.actions]
    else:
        pairs = [("human", a) for a in HUMAN_ACTIONS]
    plan = []
    for i in range(n):
        sp, a = pairs[i % len(pairs)]
        gender = GENDERS[(i + i // len(pairs)) % len(GENDERS)]
        plan.append(PlannedClip(group, i, sp, gender, a))
    return plan


def plan_splits(plan: list[PlannedClip], seed: int) -> dict[str, list[str]]:
    """Stratified held-out splits: val and test first get one clip per action, rotating species and gender so
    that each of them is covered, then random clips up to their share; everything else is train."""
    rng = np.random.default_rng([seed, 7])
    order = [plan[i] for i in rng.permutation(len(plan))]
    taken: set[str] = set()
    splits: dict[str, list[str]] = {}
    for split in ("val", "test"):
        chosen: list[PlannedClip] = []
        seen_sp: Counter = Counter()
        seen_g: Counter = Counter()
        actions = sorted({c.focus for c in plan})
        for a in actions:
            cands = [c for c in order if c.focus == a and c.id not in taken]
            if not cands:
                continue
            best = min(cands, key=lambda c: (seen_sp[c.species], seen_g[c.gender]))
            chosen.append(best)
            taken.add(best.id)
            seen_sp[best.species] += 1
            seen_g[best.gender] += 1
        quota = int(round(SPLIT_SHARE[split] * len(plan)))
        for c in order:
            if len(chosen) >= quota:
                break
            if c.id not in taken:
                chosen.append(c)
                taken.add(c.id)
        splits[split] = sorted(c.id for c in chosen)
    splits["train"] = sorted(c.id for c in plan if c.id not in taken)
    return {k: splits[k] for k in ("train", "val", "test")}


def _size_word(group: str, species: str, gender: str, scale: float) -> str | None:
    """'big' / 'small' when the body is clearly larger or smaller than its species' typical adult."""
    if group == "people" or gender == "juvenile":
        return None
    ratio = scale / SPECIES[species].size
    return "big" if ratio > 1.03 else ("small" if ratio < 0.86 else None)


def make_record(args: tuple) -> ClipRecord:
    """Generate, caption and featurise one planned clip (runs in a worker)."""
    pc, seed, max_frames, fps = args
    clip = make_clip(pc.group, pc.focus, pc.gender, [seed, 0 if pc.group == "animals" else 1, pc.index],
                     pc.species, max_frames=max_frames, fps=fps)
    rng = np.random.default_rng([seed, 2 if pc.group == "animals" else 3, pc.index])
    gaits = SPECIES[pc.species].gaits if pc.group == "animals" else {}
    size = _size_word(pc.group, pc.species, pc.gender, clip.labels["body_scale"])
    texts = caption_clip(rng, pc.group, pc.species, pc.gender, clip.steps, gaits, size,
                         n=int(rng.integers(3, 6)))
    spec = GROUPS[pc.group]
    feats, joints = joints_to_features(clip.joints, spec)
    labels = {"species": pc.species, "gender": pc.gender, "focus": pc.focus, "frames": int(len(joints)),
              "leg_clamped_frames": clip.clamped, **clip.labels}
    return ClipRecord(id=pc.id, joints=joints, captions=[Caption(t) for t in texts], species=pc.species,
                      gender=pc.gender, labels=labels, features=feats)


def build_group(cfg: ZooConfig, group: str, pool) -> dict:
    plan = plan_clips(group, cfg.count(group))
    if not plan:
        return {"clips": 0}
    splits = plan_splits(plan, cfg.seed)
    jobs = [(pc, cfg.seed, cfg.max_frames, cfg.fps) for pc in plan]
    records = pool.imap(make_record, jobs, chunksize=8) if pool is not None else map(make_record, jobs)
    return write_dataset(cfg.out / group, records, splits, GROUPS[group], species_in_texts=False)


def build_zoo(out: str | Path, *, small: bool = False, seed: int = 0, max_frames: int = 196, workers: int = 2,
              animals: int | None = None, people: int | None = None, log=print) -> dict:
    """Write `out/animals` (animo30) and `out/people` (humanml22); returns a summary per group."""
    cfg = ZooConfig(Path(out), small=small, seed=seed, max_frames=max_frames, workers=workers,
                    animals=animals, people=people)
    summary = {}
    t0 = time.time()
    if cfg.workers > 1:
        with mp.get_context("fork").Pool(cfg.workers) as pool:
            for group in GROUPS:
                summary[group] = build_group(cfg, group, pool)
                log(f"{group}: {summary[group]} ({time.time() - t0:.1f} s)")
    else:
        for group in GROUPS:
            summary[group] = build_group(cfg, group, None)
            log(f"{group}: {summary[group]} ({time.time() - t0:.1f} s)")
    return summary
