"""Left-right mirrored copies of training items, as HumanML3D doubles its data: the motion mirrored through the
body's plane of symmetry and its captions' sides swapped ("turns left" -> "turns right", clockwise <->
counterclockwise), so a model sees every turn, side-step and circle both ways."""
from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from utils.dataset import MotionItem
from utils.features import joints_to_features, recover_joints
from utils.skeleton import SkeletonSpec

SIDE_SWAPS = {"left": "right", "right": "left", "leftward": "rightward", "rightward": "leftward",
              "leftwards": "rightwards", "rightwards": "leftwards", "clockwise": "counterclockwise",
              "counterclockwise": "clockwise", "counter-clockwise": "clockwise", "anticlockwise": "clockwise",
              "anti-clockwise": "clockwise"}
_SIDE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, SIDE_SWAPS), key=len, reverse=True)) + r")\b",
                   re.IGNORECASE)
MIRROR_SUFFIX = "~mirrored"


def swap_sides(text: str) -> str:
    """The caption of the mirrored motion: every side word swapped, a capital kept ("Left" -> "Right")."""
    def swap(m: re.Match) -> str:
        word = SIDE_SWAPS[m.group(0).lower()]
        return word.capitalize() if m.group(0)[0].isupper() else word
    return _SIDE.sub(swap, text)


def mirror_features(features: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    """(T, D) features -> (T - 1, D) features of the motion mirrored left-to-right (left and right joints swapped, x
    negated). One frame shorter: features come from the step to the next frame's joints, and the T joints
    recovered from T features lack the last frame's next one."""
    if not spec.mirror_pairs:
        raise ValueError(f"skeleton {spec.name!r} names no left-right joint pairs (mirror_pairs), so its motions "
                         f"cannot be mirrored; train without --mirror")
    joints = recover_joints(features, spec)  # (T, J, 3)
    return joints_to_features(spec.mirror(joints), spec)[0].astype(np.float32)


def mirrored_items(items: list[MotionItem], spec: SkeletonSpec) -> list[MotionItem]:
    """A mirrored copy of each item (of at least three frames; one frame shorter), with swapped captions and
    MIRROR_SUFFIX on its key and clip ID."""
    return [replace(it, key=it.key + MIRROR_SUFFIX, clip_id=it.clip_id + MIRROR_SUFFIX,
                    features=mirror_features(it.features, spec),
                    captions=[replace(c, text=swap_sides(c.text), tokens=()) for c in it.captions])
            for it in items if len(it.features) >= 3]
