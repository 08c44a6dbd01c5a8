"""Motion data sets in the HumanML3D / AniMo4D folder convention: read, write, normalise, and serve to torch.

A data set folder holds
    new_joints/ID.npy      (T, J, 3) joint positions, metres, Y up
    new_joint_vecs/ID.npy  (T-1, D) features (utils.features), D = spec.feature_dim
    texts/ID.txt           one caption a line: `caption#tokens#from#to` or AniMo's `species#gender#caption#tokens#from#to`
                           (from/to in seconds; 0#0 means the whole clip, otherwise the caption names a sub-clip)
    train.txt val.txt test.txt   one clip ID a line
    Mean.npy Std.npy       feature statistics of the training split
    metadata.csv           optional: id,species,gender (AniMo-style text lines may carry them instead)
    skeleton.json          optional: the skeleton spec (a built-in name or a full custom spec); else inferred from D
    labels.jsonl           optional: structured labels per clip (the zoo writes them for evaluation)
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np
import torch

from utils.features import joints_to_features
from utils.io import atomic_save_npy, atomic_write_text
from utils.skeleton import SkeletonSpec, get_skeleton, skeleton_for_feature_dim, skeleton_ref

log = logging.getLogger("zoomotion.data")

SPLIT_NAMES = ("train", "val", "test", "train_val", "all")
UNKNOWN = "unknown"


class DataError(ValueError):
    """A problem with a data set on disk; the message names the file and what to do."""


@dataclass(frozen=True)
class Caption:
    text: str
    tokens: tuple[str, ...] = ()
    start: float = 0.0  # seconds; start == end == 0 means the whole clip
    end: float = 0.0

    @property
    def whole_clip(self) -> bool:
        return self.start == 0.0 and self.end == 0.0

    def to_line(self, species: str | None = None, gender: str | None = None) -> str:
        tokens = " ".join(self.tokens) if self.tokens else tokenize(self.text)
        fields = [self.text, tokens, f"{self.start:g}", f"{self.end:g}"]
        if species is not None:
            fields = [species, gender or UNKNOWN, *fields]
        return "#".join(fields)


def tokenize(text: str) -> str:
    """HumanML3D's `word/POS` tokens; without a tagger every word gets the universal tag X."""
    words = "".join(c if c.isalnum() or c in "'-" else " " for c in text.lower()).split()
    return " ".join(f"{w}/X" for w in words)


@dataclass
class ClipRecord:
    """One clip to write: joints, its captions and who performs it."""

    id: str
    joints: np.ndarray  # (T, J, 3)
    captions: list[Caption]
    species: str = UNKNOWN
    gender: str = UNKNOWN
    labels: dict = field(default_factory=dict)
    features: np.ndarray | None = None  # (T-1, D); computed from the joints when None


@dataclass
class MotionItem:
    """One training item: a clip or a captioned sub-clip, with its (unnormalised) features."""

    key: str  # the clip ID, or ID@from-to for a sub-clip
    clip_id: str
    features: np.ndarray  # (T, D) float32
    captions: list[Caption]
    species: str
    gender: str


# ---- reading ----------------------------------------------------------------------------------------------------
def parse_text_line(line: str, where: str) -> tuple[Caption, str | None, str | None]:
    """One `texts/ID.txt` line -> (caption, species or None, gender or None)."""
    fields = line.rstrip("\n").split("#")
    if len(fields) == 6:
        species, gender, fields = fields[0].strip(), fields[1].strip(), fields[2:]
    elif len(fields) == 4:
        species = gender = None
    else:
        raise DataError(f"{where}: expected 'caption#tokens#from#to' or 'species#gender#caption#tokens#from#to', "
                        f"got {len(fields)} '#'-separated fields in {line.strip()[:80]!r}")
    text, tokens, start, end = fields
    if not text.strip():
        raise DataError(f"{where}: the caption is empty")
    try:
        start_f, end_f = float(start or 0), float(end or 0)
    except ValueError:
        raise DataError(f"{where}: from/to must be seconds, got {start!r} and {end!r}") from None
    # HumanML3D writes nan for "whole clip" in a few files
    start_f = 0.0 if math.isnan(start_f) else start_f
    end_f = 0.0 if math.isnan(end_f) else end_f
    return Caption(text.strip(), tuple(tokens.split()), start_f, end_f), species or None, gender or None


def read_texts(path: Path) -> tuple[list[Caption], str | None, str | None]:
    """All captions of one clip, and the species / gender its lines carry (if AniMo-style)."""
    if not path.is_file():
        raise DataError(f"{path}: caption file is missing")
    lines = [l for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]
    if not lines:
        raise DataError(f"{path}: caption file is empty; every clip needs at least one caption")
    captions, species, gender = [], None, None
    for n, line in enumerate(lines, start=1):
        cap, sp, ge = parse_text_line(line, f"{path}:{n}")
        captions.append(cap)
        species, gender = sp or species, ge or gender
    return captions, species, gender


class MotionFolder:
    """A data set folder. Loads splits into `MotionItem`s, skipping bad clips (or raising when strict)."""

    def __init__(self, root: str | Path, skeleton: str | SkeletonSpec | None = None, *, strict: bool = False,
                 min_length: int = 40, max_length: int | None = None, feature_dir: str = "new_joint_vecs",
                 default_species: str = UNKNOWN, default_gender: str = UNKNOWN):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"{self.root}: data set folder does not exist")
        self.strict, self.min_length, self.max_length = strict, min_length, max_length
        self.feature_dir = feature_dir
        self.default_species, self.default_gender = default_species, default_gender
        self.spec = self._resolve_skeleton(skeleton)
        self.metadata = self._read_metadata()

    # -- set-up
    def _resolve_skeleton(self, skeleton) -> SkeletonSpec:
        if skeleton is not None:
            return get_skeleton(skeleton)
        sk = self.root / "skeleton.json"
        if sk.is_file():
            data = json.loads(sk.read_text())
            return get_skeleton(data) if isinstance(data, str) else SkeletonSpec.from_dict(data)
        first = next(iter(sorted((self.root / self.feature_dir).glob("*.npy"))), None)
        if first is None:
            raise DataError(f"{self.root / self.feature_dir}: no feature files to infer the skeleton from; "
                            f"give the skeleton explicitly or add skeleton.json")
        dim = np.load(first, mmap_mode="r").shape[-1]
        try:
            return skeleton_for_feature_dim(dim)
        except ValueError as e:
            raise DataError(f"{first}: {e}") from None

    def _read_metadata(self) -> dict[str, tuple[str, str]]:
        path = self.root / "metadata.csv"
        if not path.is_file():
            return {}
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        if rows and not {"id", "species", "gender"} <= set(rows[0]):
            raise DataError(f"{path}: needs the columns id,species,gender; found {sorted(rows[0])}")
        return {r["id"]: (r["species"], r["gender"]) for r in rows}

    # -- splits
    def available_splits(self) -> list[str]:
        return [s for s in SPLIT_NAMES if (self.root / f"{s}.txt").is_file()]

    def split_ids(self, split: str) -> list[str]:
        path = self.root / f"{split}.txt"
        if not path.is_file():
            have = self.available_splits()
            raise DataError(f"{path}: unknown split {split!r}; this data set has {have or 'no split files'} "
                            f"(a split is a file SPLIT.txt with one clip ID a line)")
        ids = [l.strip().split("#")[0] for l in path.read_text().splitlines() if l.strip()]
        if not ids:
            raise DataError(f"{path}: split file is empty")
        return ids

    # -- clips
    def load_features(self, clip_id: str) -> np.ndarray:
        """(T, D) float32 features of one clip, checked."""
        path = self.root / self.feature_dir / f"{clip_id}.npy"
        if not path.is_file():
            raise DataError(f"{path}: feature file is missing (listed in a split file)")
        try:
            x = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as e:
            raise DataError(f"{path}: not a readable .npy file ({e})") from None
        if x.ndim != 2 or x.shape[1] != self.spec.feature_dim:
            raise DataError(f"{path}: features have shape {x.shape}, skeleton {self.spec.name!r} needs "
                            f"(T, {self.spec.feature_dim}); wrong skeleton or data set?")
        if not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise DataError(f"{path}: contains NaN or Inf (first at frame {bad[0]}, dim {bad[1]})")
        return x.astype(np.float32, copy=False)

    def load_joints(self, clip_id: str) -> np.ndarray:
        """(T, J, 3) float32 joints of one clip, checked."""
        path = self.root / "new_joints" / f"{clip_id}.npy"
        if not path.is_file():
            raise DataError(f"{path}: joint file is missing")
        x = np.load(path, allow_pickle=False)
        if x.ndim != 3 or x.shape[1:] != (self.spec.num_joints, 3):
            raise DataError(f"{path}: joints have shape {x.shape}, skeleton {self.spec.name!r} needs "
                            f"(T, {self.spec.num_joints}, 3)")
        if not np.isfinite(x).all():
            raise DataError(f"{path}: contains NaN or Inf")
        return x.astype(np.float32, copy=False)

    def who(self, clip_id: str, text_species: str | None, text_gender: str | None) -> tuple[str, str]:
        meta = self.metadata.get(clip_id)
        species = text_species or (meta[0] if meta else None) or self.default_species
        gender = text_gender or (meta[1] if meta else None) or self.default_gender
        return species, gender

    def _clip_items(self, clip_id: str) -> list[MotionItem]:
        feats = self.load_features(clip_id)
        captions, sp, ge = read_texts(self.root / "texts" / f"{clip_id}.txt")
        species, gender = self.who(clip_id, sp, ge)
        items, whole = [], [c for c in captions if c.whole_clip]
        if whole:
            items.append(self._checked_item(clip_id, clip_id, feats, whole, species, gender))
        for cap in captions:
            if cap.whole_clip:
                continue
            a, b = int(round(cap.start * self.spec.fps)), int(round(cap.end * self.spec.fps))
            if not 0 <= a < b:
                raise DataError(f"{self.root / 'texts' / clip_id}.txt: sub-clip from {cap.start} to {cap.end} s "
                                f"is empty or reversed")
            items.append(self._checked_item(f"{clip_id}@{a}-{b}", clip_id, feats[a:b], [cap], species, gender))
        return items

    def _checked_item(self, key, clip_id, feats, captions, species, gender) -> MotionItem:
        if len(feats) < self.min_length:
            raise DataError(f"{self.root / self.feature_dir / clip_id}.npy: {key} has {len(feats)} frames, "
                            f"fewer than the minimum {self.min_length}")
        if self.max_length is not None and len(feats) > self.max_length:
            feats = feats[: self.max_length]
        return MotionItem(key, clip_id, feats, captions, species, gender)

    def load_split(self, split: str) -> list[MotionItem]:
        """Every usable item of a split; bad clips are skipped with a logged count (or raise if strict)."""
        items, skipped = [], Counter()
        examples: dict[str, str] = {}
        for clip_id in self.split_ids(split):
            try:
                items.extend(self._clip_items(clip_id))
            except DataError as e:
                if self.strict:
                    raise
                reason = _reason(str(e))
                skipped[reason] += 1
                examples.setdefault(reason, str(e))
        if skipped:
            summary = "; ".join(f"{n} x {r} (e.g. {examples[r]})" for r, n in skipped.most_common())
            log.warning("%s/%s: skipped %d clips: %s (use strict=True / --strict to stop at the first)",
                        self.root, split, sum(skipped.values()), summary)
        self.skipped = dict(skipped)
        if not items:
            raise DataError(f"{self.root}/{split}.txt: no usable clips" +
                            (f"; all skipped: {dict(skipped)}" if skipped else ""))
        # merge sub-clips that share a key (the same span named by several captions)
        merged: dict[str, MotionItem] = {}
        for it in items:
            if it.key in merged:
                merged[it.key].captions.extend(it.captions)
            else:
                merged[it.key] = it
        return list(merged.values())

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        mean_p, std_p = self.root / "Mean.npy", self.root / "Std.npy"
        for p in (mean_p, std_p):
            if not p.is_file():
                raise DataError(f"{p}: missing; compute it with `python -m utils.dataset stats {self.root}`")
        mean, std = np.load(mean_p).astype(np.float32), np.load(std_p).astype(np.float32)
        for name, a in (("Mean.npy", mean), ("Std.npy", std)):
            if a.shape != (self.spec.feature_dim,):
                raise DataError(f"{self.root / name}: shape {a.shape}, expected ({self.spec.feature_dim},)")
        if (std <= 0).any() or not np.isfinite(std).all():
            raise DataError(f"{std_p}: has zero, negative or non-finite entries; recompute it")
        return mean, std

    def labels(self) -> dict[str, dict]:
        path = self.root / "labels.jsonl"
        if not path.is_file():
            return {}
        out = {}
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                out[rec["id"]] = rec
        return out


def _reason(message: str) -> str:
    """A short category for a skip message, for the logged counts."""
    for key in ("missing", "empty", "NaN", "shape", "frames, fewer", "expected", "readable", "reversed"):
        if key in message:
            return {"frames, fewer": "too short", "shape": "wrong shape", "expected": "malformed caption line"
                    }.get(key, key)
    return "other"


# ---- statistics -------------------------------------------------------------------------------------------------
def compute_mean_std(features: Iterable[np.ndarray], spec: SkeletonSpec, contact_bias: float = 5.0,
                     ) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D's statistics: per-dim mean; std averaged within each feature group, contacts divided by 5
    so a contact error weighs less after normalisation."""
    count, s1, s2 = 0, np.zeros(spec.feature_dim), np.zeros(spec.feature_dim)
    for x in features:
        x = np.asarray(x, dtype=np.float64)
        count += len(x)
        s1 += x.sum(0)
        s2 += (x ** 2).sum(0)
    if count == 0:
        raise DataError("cannot compute Mean/Std of an empty data set")
    mean = s1 / count
    std = np.sqrt(np.maximum(s2 / count - mean ** 2, 0.0))
    sl = spec.slices
    for part in (sl.root_rot_vel, sl.root_lin_vel, sl.root_height, sl.ric, sl.rot, sl.vel, sl.contacts):
        if part.stop > part.start:
            std[part] = std[part].mean()
    std[sl.contacts] /= contact_bias
    std = np.where(std < 1e-6, 1.0, std)  # a constant group (say, no contacts at all) is left unscaled
    return mean.astype(np.float32), std.astype(np.float32)


# ---- writing ----------------------------------------------------------------------------------------------------
def write_dataset(root: str | Path, clips: Iterable[ClipRecord], splits: dict[str, Sequence[str]],
                  spec: SkeletonSpec, *, species_in_texts: bool = False) -> dict:
    """Write clips in the folder convention (atomically, file by file) and Mean/Std of the train split.

    With species_in_texts the caption lines take AniMo's `species#gender#...` form; metadata.csv is always written.
    Returns a small summary.
    """
    root = Path(root)
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    unknown = set(splits) - set(SPLIT_NAMES)
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}; use {SPLIT_NAMES}")
    meta_rows, label_lines, n = [], [], 0
    train_ids = set(splits.get("train", ()))
    train_feats = []
    for clip in clips:
        if not clip.captions:
            raise ValueError(f"clip {clip.id}: needs at least one caption")
        feats = clip.features
        if feats is None:
            feats, joints = joints_to_features(clip.joints, spec)
        else:
            joints = np.asarray(clip.joints, dtype=np.float32)
        atomic_save_npy(root / "new_joints" / f"{clip.id}.npy", joints.astype(np.float32))
        atomic_save_npy(root / "new_joint_vecs" / f"{clip.id}.npy", feats.astype(np.float32))
        lines = [c.to_line(clip.species if species_in_texts else None, clip.gender) for c in clip.captions]
        atomic_write_text(root / "texts" / f"{clip.id}.txt", "\n".join(lines) + "\n")
        meta_rows.append((clip.id, clip.species, clip.gender))
        if clip.labels:
            label_lines.append(json.dumps({"id": clip.id, **clip.labels}, sort_keys=True))
        if clip.id in train_ids:
            train_feats.append(feats)
        n += 1
    for name, ids in splits.items():
        atomic_write_text(root / f"{name}.txt", "".join(f"{i}\n" for i in ids))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("id", "species", "gender"))
    w.writerows(meta_rows)
    atomic_write_text(root / "metadata.csv", buf.getvalue())
    if label_lines:
        atomic_write_text(root / "labels.jsonl", "\n".join(label_lines) + "\n")
    atomic_write_text(root / "skeleton.json", json.dumps(skeleton_ref(spec), indent=1))
    if train_feats:
        mean, std = compute_mean_std(train_feats, spec)
        atomic_save_npy(root / "Mean.npy", mean)
        atomic_save_npy(root / "Std.npy", std)
    return {"clips": n, "splits": {k: len(v) for k, v in splits.items()}}


# ---- torch data sets --------------------------------------------------------------------------------------------
class PackedMotions:
    """All items' normalised features in one contiguous float32 array plus offsets.

    Workers start fast: pickling sends only the small index and, when the array lives in a cache file,
    its path (it is memory-mapped again in the worker), never the motions themselves.
    """

    def __init__(self, items: Sequence[MotionItem], mean: np.ndarray, std: np.ndarray,
                 cache_dir: str | Path | None = None):
        self.keys = [it.key for it in items]
        self.captions = [it.captions for it in items]
        self.species = [it.species for it in items]
        self.genders = [it.gender for it in items]
        self.lengths = np.array([len(it.features) for it in items], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.mean, self.std = mean.astype(np.float32), std.astype(np.float32)
        self.path: Path | None = None
        data = np.concatenate([it.features for it in items]).astype(np.float32)
        data = (data - self.mean) / self.std
        if cache_dir is not None:
            digest = hashlib.sha1(data.tobytes()[:1 << 20] + str(data.shape).encode() +
                                  "".join(self.keys).encode()).hexdigest()[:16]
            self.path = Path(cache_dir) / f"packed-{digest}.npy"
            if not self.path.is_file():
                atomic_save_npy(self.path, data)
            data = np.load(self.path, mmap_mode="r")
        self.data = data

    def __len__(self) -> int:
        return len(self.keys)

    def motion(self, i: int, start: int = 0, length: int | None = None) -> np.ndarray:
        n = self.lengths[i] if length is None else length
        a = self.starts[i] + start
        return np.asarray(self.data[a:a + n])

    def __getstate__(self):
        state = dict(self.__dict__)
        if self.path is not None:
            state["data"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.data is None:
            self.data = np.load(self.path, mmap_mode="r")


def item_rng(index) -> tuple[int, np.random.Generator]:
    """A sampler index may be an int or (int, seed) from `SeededSampler`: the seed makes crops reproducible."""
    if isinstance(index, (tuple, list)):
        i, seed = index
        return int(i), np.random.default_rng(seed)
    return int(index), np.random.default_rng()


class MotionWindowDataset(torch.utils.data.Dataset):
    """Fixed-length windows of normalised features for tokenizer training; one random window per clip per visit."""

    def __init__(self, packed: PackedMotions, window: int = 64):
        self.packed, self.window = packed, window
        self.index = np.flatnonzero(packed.lengths >= window)
        if len(self.index) == 0:
            raise DataError(f"no clip is at least {window} frames long; lower the window or check the data")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, index) -> dict:
        i, rng = item_rng(index)
        k = self.index[i]
        start = int(rng.integers(0, self.packed.lengths[k] - self.window + 1))
        return {
            "motion": torch.from_numpy(self.packed.motion(k, start, self.window).copy()),
            "species": self.packed.species[k], "gender": self.packed.genders[k],
        }


class TextMotionDataset(torch.utils.data.Dataset):
    """(motion, caption, species, gender, length) items for text-to-motion and evaluator training.

    As in MoMask, the length is cut to a multiple of `unit_length` (one token), one unit shorter a third of the
    time, with a random start; a random caption of the item is picked each visit.
    """

    def __init__(self, packed: PackedMotions, max_length: int = 196, unit_length: int = 4, random_crop: bool = True):
        self.packed, self.max_length, self.unit, self.random_crop = packed, max_length, unit_length, random_crop

    def __len__(self) -> int:
        return len(self.packed)

    def __getitem__(self, index) -> dict:
        i, rng = item_rng(index)
        n = int(min(self.packed.lengths[i], self.max_length))
        if self.random_crop and rng.random() < 1 / 3 and n // self.unit > 1:
            n = (n // self.unit - 1) * self.unit
        else:
            n = max(n // self.unit, 1) * self.unit
        n = min(n, int(self.packed.lengths[i]))
        start = int(rng.integers(0, self.packed.lengths[i] - n + 1)) if self.random_crop else 0
        caps = self.packed.captions[i]
        cap = caps[int(rng.integers(len(caps)))] if self.random_crop else caps[0]
        return {
            "motion": torch.from_numpy(self.packed.motion(i, start, n).copy()), "length": n,
            "caption": cap.text, "species": self.packed.species[i], "gender": self.packed.genders[i],
            "key": self.packed.keys[i],
        }


def collate_motions(batch: list[dict]) -> dict:
    """Pad motions to the longest in the batch: motion (B, T, D), mask (B, T) True on real frames, length (B,)."""
    lengths = torch.tensor([b["motion"].shape[0] for b in batch])
    T, D = int(lengths.max()), batch[0]["motion"].shape[1]
    motion = torch.zeros(len(batch), T, D)
    for k, b in enumerate(batch):
        motion[k, : lengths[k]] = b["motion"]
    out = {"motion": motion, "length": lengths, "mask": torch.arange(T)[None] < lengths[:, None]}
    for key in batch[0]:
        if key not in ("motion", "length"):
            out[key] = [b[key] for b in batch]
    return out


class SeededSampler(torch.utils.data.Sampler):
    """Shuffles with (seed, epoch) and hands each index its own seed, so an epoch's items are the same whatever
    the number of workers or processes. Resumable: `state_dict` records the epoch and how far it got."""

    def __init__(self, n: int, seed: int = 0, shuffle: bool = True, num_replicas: int = 1, rank: int = 0):
        self.n, self.seed, self.shuffle = n, seed, shuffle
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch, self.position = 0, 0

    def _order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def __len__(self) -> int:
        return math.ceil(self.n / self.num_replicas)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        order = self._order()
        order = np.resize(order, len(self) * self.num_replicas)[self.rank::self.num_replicas]  # pad by wrapping
        seeds = np.random.default_rng([self.seed, self.epoch, 1]).integers(0, 2**63 - 1, size=len(order))
        start, self.position = self.position, 0
        for k in range(start, len(order)):
            yield int(order[k]), int(seeds[k])
        self.epoch += 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def state_dict(self, consumed: int = 0) -> dict:
        """`consumed` items of the current epoch were already used."""
        return {"epoch": self.epoch, "position": consumed, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position, self.seed = state["epoch"], state["position"], state["seed"]


# ---- command line -----------------------------------------------------------------------------------------------
def build_features(root: str | Path, skeleton: str | SkeletonSpec, joints_dir: str = "joints",
                   strict: bool = False) -> dict:
    """Raw joints (ROOT/joints/ID.npy, any position and heading) -> new_joints (canonical) + new_joint_vecs,
    then Mean/Std of the train split: HumanML3D's motion_representation step for a user's own data."""
    root, spec = Path(root), get_skeleton(skeleton)
    src = root / joints_dir
    files = sorted(src.glob("*.npy"))
    if not files:
        raise DataError(f"{src}: no .npy joint files; put each clip's (T, {spec.num_joints}, 3) joints there")
    done, failed = [], {}
    for path in files:
        try:
            joints = np.load(path, allow_pickle=False)
            if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
                raise DataError(f"{path}: joints have shape {joints.shape}, skeleton {spec.name!r} needs "
                                f"(T, {spec.num_joints}, 3)")
            if not np.isfinite(joints).all():
                raise DataError(f"{path}: contains NaN or Inf")
            feats, canon = joints_to_features(joints, spec)
        except (DataError, ValueError) as e:
            if strict:
                raise DataError(str(e)) from None
            failed[path.stem] = str(e)
            continue
        atomic_save_npy(root / "new_joints" / path.name, canon)
        atomic_save_npy(root / "new_joint_vecs" / path.name, feats)
        done.append(path.stem)
    if failed:
        log.warning("%s: skipped %d clips: %s", src, len(failed), "; ".join(list(failed.values())[:5]))
    if not (root / "skeleton.json").is_file():
        atomic_write_text(root / "skeleton.json", json.dumps(skeleton_ref(spec), indent=1))
    stats = write_stats(root, spec)
    return {"converted": len(done), "skipped": failed, **stats}


def write_stats(root: str | Path, skeleton: str | SkeletonSpec | None = None, split: str = "train") -> dict:
    """Mean.npy / Std.npy from the clips of one split (all feature files if there is no split file)."""
    folder = MotionFolder(root, skeleton, min_length=1)
    ids = folder.split_ids(split) if (folder.root / f"{split}.txt").is_file() else \
        sorted(p.stem for p in (folder.root / folder.feature_dir).glob("*.npy"))
    feats = []
    for i in ids:
        try:
            feats.append(folder.load_features(i))
        except DataError as e:
            log.warning("%s", e)
    mean, std = compute_mean_std(feats, folder.spec)
    atomic_save_npy(folder.root / "Mean.npy", mean)
    atomic_save_npy(folder.root / "Std.npy", std)
    return {"stats_from": f"{len(feats)} clips of {split if (folder.root / f'{split}.txt').is_file() else 'all'}"}


def check(root: str | Path, skeleton: str | None = None, strict: bool = False, min_length: int = 40) -> dict:
    """Load every split and report what is usable."""
    folder = MotionFolder(root, skeleton, strict=strict, min_length=min_length)
    report = {"skeleton": folder.spec.name, "feature_dim": folder.spec.feature_dim, "splits": {}}
    for split in folder.available_splits():
        items = folder.load_split(split)
        frames = np.array([len(it.features) for it in items])
        report["splits"][split] = {
            "items": len(items), "skipped": folder.skipped, "frames_min": int(frames.min()),
            "frames_median": int(np.median(frames)), "frames_max": int(frames.max()),
            "captions": sum(len(it.captions) for it in items),
            "species": dict(Counter(it.species for it in items)), "gender": dict(Counter(it.gender for it in items)),
        }
    folder.mean_std()
    return report


def main(argv: Sequence[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m utils.dataset",
                                     description="Check a motion data set folder, or prepare one from raw joints.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("check", help="load every split, report counts and skipped clips")
    p.add_argument("root")
    p.add_argument("--skeleton", help="built-in name or skeleton .json (default: skeleton.json or inferred)")
    p.add_argument("--strict", action="store_true", help="stop at the first bad clip instead of skipping it")
    p.add_argument("--min-length", type=int, default=40, help="shortest usable clip in frames (default 40)")
    p = sub.add_parser("stats", help="(re)compute Mean.npy and Std.npy from the train split")
    p.add_argument("root")
    p.add_argument("--skeleton")
    p.add_argument("--split", default="train")
    p = sub.add_parser("build-features", help="ROOT/joints/*.npy -> new_joints/, new_joint_vecs/, Mean/Std")
    p.add_argument("root")
    p.add_argument("--skeleton", required=True)
    p.add_argument("--joints-dir", default="joints")
    p.add_argument("--strict", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    try:
        if args.command == "check":
            out = check(args.root, args.skeleton, args.strict, args.min_length)
        elif args.command == "stats":
            out = write_stats(args.root, args.skeleton, args.split)
        else:
            out = build_features(args.root, args.skeleton, args.joints_dir, args.strict)
    except (DataError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
