"""Numbers about a built zoo: what is in it, how long, how many words, and how physical the motion is."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from utils.dataset import MotionFolder, read_texts

SKATE_LIMIT = 0.01  # metres per frame a contact foot may move horizontally
FLOOR_TOLERANCE = 0.01  # metres a joint may dip below the floor


@dataclass
class Plausibility:
    """Accumulated foot-skating, penetration and bone-length figures over clips."""

    contact_frames: int = 0
    skating_frames: int = 0
    contact_speed_sum: float = 0.0  # metres per second, summed over contact frames
    frames: int = 0
    penetrating_frames: int = 0
    lowest: float = 0.0  # lowest joint height relative to the floor, metres
    bone_drift: float = 0.0  # largest change of a bone's length within a clip, metres
    per_clip_skate: list = field(default_factory=list)

    def add(self, joints: np.ndarray, contacts: np.ndarray, feet: tuple[int, ...], parents: tuple[int, ...],
            fps: float) -> None:
        """joints (T, J, 3), contacts (T-1, F) in foot order."""
        foot_pos = joints[:, list(feet)]  # (T, F, 3)
        step = np.linalg.norm(foot_pos[1:, :, [0, 2]] - foot_pos[:-1, :, [0, 2]], axis=-1)  # (T-1, F)
        on = contacts > 0.5
        self.contact_frames += int(on.sum())
        self.skating_frames += int((on & (step > SKATE_LIMIT)).sum())
        self.contact_speed_sum += float(step[on].sum() * fps)
        self.per_clip_skate.append(float((on & (step > SKATE_LIMIT)).sum() / max(on.sum(), 1)))
        floor = floor_height(joints, contacts, feet)
        height = joints[..., 1] - floor
        self.frames += len(joints)
        self.penetrating_frames += int((height.min(1) < -FLOOR_TOLERANCE).sum())
        self.lowest = min(self.lowest, float(height.min()))
        bones = np.linalg.norm(joints[:, 1:] - joints[:, list(parents[1:])], axis=-1)  # (T, J-1)
        self.bone_drift = max(self.bone_drift, float((bones.max(0) - bones.min(0)).max()))

    def summary(self) -> dict:
        return {
            "contact_frames": self.contact_frames,
            "mean_contact_foot_speed_m_s": self.contact_speed_sum / max(self.contact_frames, 1),
            "share_contact_over_1cm_per_frame": self.skating_frames / max(self.contact_frames, 1),
            "worst_clip_skate_share": max(self.per_clip_skate or [0.0]),
            "lowest_joint_below_floor_m": self.lowest,
            "share_frames_joint_below_floor_1cm": self.penetrating_frames / max(self.frames, 1),
            "max_bone_length_drift_m": self.bone_drift,
        }


def floor_height(joints: np.ndarray, contacts: np.ndarray, feet: tuple[int, ...]) -> float:
    """The floor is where the feet stand: the lowest of the feet's median heights while in contact."""
    heights = [np.median(joints[:-1, j, 1][contacts[:, k] > 0.5]) for k, j in enumerate(feet)
               if (contacts[:, k] > 0.5).any()]
    return float(min(heights)) if heights else float(joints[..., 1].min())


def group_stats(root: Path) -> dict:
    folder = MotionFolder(root, min_length=2)
    spec = folder.spec
    labels = folder.labels()
    out: dict = {"skeleton": spec.name, "clips": len(labels)}
    splits = {s: folder.split_ids(s) for s in ("train", "val", "test")}
    out["splits"] = {s: len(ids) for s, ids in splits.items()}
    for key in ("species", "gender"):
        out[key] = {s: dict(sorted(Counter(labels[i][key] for i in ids).items())) for s, ids in splits.items()}
    out["action"] = {s: dict(sorted(Counter(a for i in ids for a in labels[i]["actions"]).items()))
                     for s, ids in splits.items()}
    out["speed"] = dict(sorted(Counter(l["speed"] for l in labels.values()).items()))
    out["direction"] = dict(sorted(Counter(l["direction"] for l in labels.values()).items()))
    out["composition_length"] = dict(sorted(Counter(len(l["actions"]) for l in labels.values()).items()))
    seconds = np.array([l["frames"] / spec.fps for l in labels.values()])
    hist, edges = np.histogram(seconds, bins=np.arange(0, 11))
    out["length_seconds_hist"] = {f"{int(a)}-{int(b)}s": int(h) for a, b, h in zip(edges[:-1], edges[1:], hist)}
    out["length_seconds_mean"] = float(seconds.mean())
    words: Counter = Counter()
    captions, distinct = 0, 0
    plaus = Plausibility()
    for cid in labels:
        caps, _, _ = read_texts(root / "texts" / f"{cid}.txt")
        captions += len(caps)
        distinct += len({c.text for c in caps})
        for c in caps:
            words.update("".join(ch if ch.isalnum() or ch in "'-" else " " for ch in c.text.lower()).split())
        joints = np.load(root / "new_joints" / f"{cid}.npy")
        feats = np.load(root / "new_joint_vecs" / f"{cid}.npy")
        plaus.add(joints.astype(np.float64), feats[:, spec.slices.contacts], spec.foot_joints, spec.parents,
                  spec.fps)
    out["captions"] = captions
    out["distinct_captions_per_clip"] = distinct / max(len(labels), 1)
    out["vocabulary"] = len(words)
    out["plausibility"] = plaus.summary()
    out["leg_clamped_frames_mean"] = float(np.mean([l["leg_clamped_frames"] for l in labels.values()]))
    return out


def zoo_stats(root: str | Path) -> dict:
    root = Path(root)
    groups = [g for g in ("animals", "people") if (root / g / "labels.jsonl").is_file()]
    if not groups:
        raise FileNotFoundError(f"{root}: no zoo here (expected animals/ and people/ with labels.jsonl); "
                                f"build one with `python -m utils.zoo build --out {root}`")
    out = {g: group_stats(root / g) for g in groups}
    words: set = set()
    for g in groups:
        for p in (root / g / "texts").glob("*.txt"):
            for line in p.read_text().splitlines():
                words.update("".join(ch if ch.isalnum() or ch in "'-" else " "
                                     for ch in line.split("#")[0].lower()).split())
    out["vocabulary_total"] = len(words)
    return out


def format_stats(stats: dict) -> str:
    lines = []
    for g in ("animals", "people"):
        if g not in stats:
            continue
        s = stats[g]
        lines.append(f"== {g} ({s['skeleton']}): {s['clips']} clips, splits {s['splits']}")
        for key in ("species", "gender", "action"):
            lines.append(f"  {key} per split:")
            names = sorted(set().union(*(set(v) for v in s[key].values())))
            lines.append("    " + f"{'':16s}" + "".join(f"{sp:>7s}" for sp in ("train", "val", "test")))
            for n in names:
                counts = "".join(f"{s[key][sp].get(n, 0):7d}" for sp in ("train", "val", "test"))
                lines.append(f"    {n:16s}{counts}")
        lines.append(f"  speed: {s['speed']}")
        lines.append(f"  direction: {s['direction']}")
        lines.append(f"  actions per clip: {s['composition_length']}")
        lines.append(f"  length histogram (seconds): {s['length_seconds_hist']}  mean {s['length_seconds_mean']:.2f} s")
        lines.append(f"  captions: {s['captions']}, distinct per clip {s['distinct_captions_per_clip']:.2f}, "
                     f"vocabulary {s['vocabulary']} words")
        p = s["plausibility"]
        lines.append(f"  foot skating: mean horizontal contact-foot speed {p['mean_contact_foot_speed_m_s']:.4f} m/s, "
                     f"{100 * p['share_contact_over_1cm_per_frame']:.2f}% of {p['contact_frames']} contact frames "
                     f"over 1 cm/frame (worst clip {100 * p['worst_clip_skate_share']:.1f}%)")
        lines.append(f"  penetration: lowest joint {100 * p['lowest_joint_below_floor_m']:.2f} cm vs the floor, "
                     f"{100 * p['share_frames_joint_below_floor_1cm']:.3f}% of frames with a joint > 1 cm below")
        lines.append(f"  bones: max length drift {1000 * p['max_bone_length_drift_m']:.4f} mm; "
                     f"leg targets out of reach: {s['leg_clamped_frames_mean']:.2f} leg-frames per clip")
    lines.append(f"vocabulary over all captions: {stats['vocabulary_total']} words")
    return "\n".join(lines)


def dump(stats: dict) -> str:
    return json.dumps(stats, indent=1)
