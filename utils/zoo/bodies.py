"""Bodies of the zoo: species and people as reshaped copies of the animo30 / humanml22 rest offsets.

A body is a skeleton's (J, 3) rest offsets plus the few numbers the rig needs: standing root height, body pitch,
leg segment lengths and where the feet rest under the body. Sizes are in metres; the animo30 rest pose is a
mid-sized dog (hip height ~0.46 m) and humanml22 an adult of ~1.7 m.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from utils.skeleton import ANIMO30, HUMANML22, SkeletonSpec

GENDERS = ("male", "female", "juvenile")


@dataclass(frozen=True)
class SpeciesDef:
    """Proportions (multipliers of the animo30 dog) and habits of one species."""

    name: str
    size: float  # overall scale of an adult male
    fore: float = 1.0  # fore-leg length
    hind: float = 1.0  # hind-leg length
    body: float = 1.0  # spine length
    neck: float = 1.0
    neck_rise: float = 0.0  # degrees the neck is held more upright than the dog's
    head: float = 1.0
    tail: float = 1.0
    width: float = 1.0
    stance: float = 0.92  # standing hip-to-hock distance as a share of the two-bone reach
    female: float = 0.9  # female size relative to the male
    gaits: dict = field(default_factory=dict)  # action -> gait name
    actions: tuple[str, ...] = ()
    tail_wag: float = 0.3  # radians of idle tail motion


_LOCO = ("idle", "walk", "walk_backward", "turn", "look_around", "shake", "eat")
_DOG_GAITS = {"walk": "walk", "trot": "trot", "run": "gallop_rotary", "walk_backward": "walk", "turn": "walk"}
_HOOF_GAITS = {"walk": "walk", "trot": "trot", "run": "gallop_transverse", "walk_backward": "walk", "turn": "walk"}

SPECIES: dict[str, SpeciesDef] = {s.name: s for s in (
    SpeciesDef("dog", 1.15, neck=1.35, gaits=_DOG_GAITS, tail_wag=0.6, actions=_LOCO + (
        "trot", "run", "jump_forward", "jump_in_place", "sit_down", "lie_down", "get_up", "rear_up", "pounce")),
    SpeciesDef("cat", 0.52, fore=0.95, hind=1.05, body=1.05, neck=1.2, head=0.95, tail=1.6, width=0.85,
               stance=0.88, female=0.92, gaits={**_DOG_GAITS, "run": "bound"}, tail_wag=0.4, actions=_LOCO + (
                   "trot", "run", "jump_forward", "jump_in_place", "sit_down", "lie_down", "get_up", "pounce")),
    SpeciesDef("horse", 2.7, fore=1.2, hind=1.15, body=0.95, neck=2.5, neck_rise=8, head=1.5, tail=0.9,
               width=0.95, stance=0.95, gaits=_HOOF_GAITS, tail_wag=0.2, actions=_LOCO + (
                   "trot", "run", "jump_forward", "lie_down", "get_up", "rear_up")),
    SpeciesDef("deer", 1.8, fore=1.25, hind=1.25, body=0.85, neck=2.1, neck_rise=12, head=1.05, tail=0.3,
               width=0.8, stance=0.94, female=0.85, gaits=_HOOF_GAITS, tail_wag=0.2, actions=_LOCO + (
                   "trot", "run", "jump_forward", "jump_in_place", "lie_down", "get_up")),
    SpeciesDef("bear", 1.9, fore=0.85, hind=0.8, body=1.2, neck=1.2, neck_rise=-12, head=1.25, tail=0.25,
               width=1.5, stance=0.9, female=0.8, gaits={**_DOG_GAITS, "run": "gallop_rotary"}, tail_wag=0.05,
               actions=_LOCO + ("trot", "run", "sit_down", "lie_down", "get_up", "rear_up")),
    SpeciesDef("elephant", 4.6, fore=1.25, hind=1.2, body=1.0, neck=0.35, neck_rise=-5, head=2.1, tail=0.75,
               width=1.5, stance=0.93, female=0.85, gaits={**_DOG_GAITS, "run": "amble"}, tail_wag=0.15,
               actions=_LOCO + ("run", "sit_down", "lie_down", "get_up", "rear_up")),
    SpeciesDef("rabbit", 0.4, fore=0.8, hind=1.2, body=1.0, neck=0.8, neck_rise=10, head=1.35, tail=0.25,
               width=1.0, stance=0.8, female=0.95, gaits={**_DOG_GAITS, "trot": "hop", "run": "bound"},
               tail_wag=0.05, actions=_LOCO + (
                   "trot", "run", "jump_forward", "jump_in_place", "sit_down", "lie_down", "get_up", "rear_up")),
    SpeciesDef("lion", 1.85, fore=1.0, hind=0.95, body=1.15, neck=1.25, head=1.25, tail=1.5, width=1.15,
               stance=0.9, female=0.82, gaits=_DOG_GAITS, tail_wag=0.35, actions=_LOCO + (
                   "trot", "run", "jump_forward", "sit_down", "lie_down", "get_up", "pounce")),
)}

# joints of animo30 grouped by the proportion that scales them
_ANIMAL_GROUPS = {
    "body": ("spine1", "spine2", "spine3"),
    "neck": ("neck1", "neck2", "head"),
    "head": ("jaw", "l_eye", "r_eye"),
    "tail": ("tail1", "tail2", "tail3", "tail4"),
    "fore": ("lf_elbow", "lf_wrist", "lf_paw", "rf_elbow", "rf_wrist", "rf_paw"),
    "hind": ("lh_knee", "lh_hock", "lh_paw", "rh_knee", "rh_hock", "rh_paw"),
}


@dataclass(frozen=True)
class Body:
    """One performer: offsets plus what the rig derives from them once."""

    spec: SkeletonSpec
    offsets: np.ndarray  # (J, 3)
    height: float  # standing root height, metres
    pitch: float  # standing body pitch, radians, nose up positive
    leg: float  # leg length used for Froude numbers (standing hip height)
    home: np.ndarray  # (F, 2) foot rest positions (x, z) in the heading frame, relative to the root
    foot_height: float  # height of a planted foot joint (0 for paws; ankle height for people)
    scale: float
    trunk: float  # ground distance from the hips to the shoulders, metres


def _rot_x(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0, 0], [0, c, -s], [0, s, c]])


def animal_offsets(sp: SpeciesDef, gender: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(J, 3) offsets of one animal of species `sp`, and its overall scale."""
    if gender not in GENDERS:
        raise ValueError(f"unknown gender {gender!r}; use one of {GENDERS}")
    names = ANIMO30.joint_names
    size = sp.size * {"male": 1.0, "female": sp.female, "juvenile": 0.55 * (1 + sp.female) / 2}[gender]
    size *= rng.uniform(0.93, 1.07)
    factor = {g: getattr(sp, g) * rng.uniform(0.95, 1.05) for g in _ANIMAL_GROUPS}
    if gender == "juvenile":  # relatively big heads, long legs, short bodies and tails
        factor["head"] *= 1.35
        factor["neck"] *= 0.9
        factor["fore"] *= 1.08
        factor["hind"] *= 1.08
        factor["body"] *= 0.88
        factor["tail"] *= 0.8
    elif gender == "male":
        factor["neck"] *= 1.05
        factor["head"] *= 1.05
    off = ANIMO30.offsets.copy()
    for group, joints in _ANIMAL_GROUPS.items():
        for n in joints:
            off[names.index(n)] *= factor[group]
    # the neck bends at neck1 and neck2: keep its base bone short so a bent neck reaches down to the ground
    off[names.index("neck1")] *= 0.5
    off[names.index("neck2")] *= 1.4
    off[names.index("head")] *= 1.15
    rise = _rot_x(-np.radians(sp.neck_rise))  # nose-up rotation of the neck bones
    for n in ("neck1", "neck2"):
        off[names.index(n)] = rise @ off[names.index(n)]
    width = sp.width * rng.uniform(0.95, 1.05)
    for n in ("lf_shoulder", "rf_shoulder", "lh_hip", "rh_hip"):
        j = names.index(n)
        off[j] = off[j] * [width, 1.0, factor["body"]]
    return off * size, size


def _reach(off: np.ndarray, a: str, b: str, c: str) -> tuple[float, float, float]:
    n = ANIMO30.joint_names
    return tuple(float(np.linalg.norm(off[n.index(x)])) for x in (a, b, c))


def animal_body(sp: SpeciesDef, gender: str, rng: np.random.Generator) -> Body:
    off, size = animal_offsets(sp, gender, rng)
    n = ANIMO30.joint_names
    idx = n.index
    # standing: hocks and wrists straight under hips and shoulders at `stance` of the two-bone reach
    ha, hb, _ = _reach(off, "lh_knee", "lh_hock", "lh_paw")
    fa, fb, _ = _reach(off, "lf_elbow", "lf_wrist", "lf_paw")
    hip_h = -off[idx("lh_paw"), 1] + sp.stance * (ha + hb)
    sh_h = -off[idx("lf_paw"), 1] + sp.stance * (fa + fb)
    height = hip_h - off[idx("lh_hip"), 1]
    shoulder = off[idx("spine1")] + off[idx("spine2")] + off[idx("spine3")] + off[idx("lf_shoulder")]
    rel = shoulder - off[idx("lh_hip")]  # hip -> shoulder in the body frame
    pitches = np.radians(np.linspace(-45, 45, 901))
    rise = rel[1] * np.cos(pitches) + rel[2] * np.sin(pitches)  # height gain of the shoulder under nose-up pitch
    pitch = float(pitches[np.argmin(np.abs(rise - (sh_h - hip_h)))])
    R = _rot_x(-pitch)
    hip = R @ off[idx("lh_hip")]
    sh = R @ shoulder
    # paws: under the hock / wrist, which sit under the hip / shoulder
    home = np.array([
        [sh[0], sh[2] + off[idx("lf_paw"), 2]], [-sh[0], sh[2] + off[idx("rf_paw"), 2]],
        [hip[0], hip[2] + off[idx("lh_paw"), 2]], [-hip[0], hip[2] + off[idx("rh_paw"), 2]],
    ])
    off[0] = (0.0, height, 0.0)
    trunk = float(np.hypot(*(sh - hip)[[0, 2]]))
    return Body(ANIMO30, off, float(height), pitch, float(hip_h), home, 0.0, float(size), trunk)


# ---- people ---------------------------------------------------------------------------------------------------
_HUMAN_GROUPS = {
    "leg": ("left_knee", "right_knee", "left_ankle", "right_ankle"),
    "foot": ("left_foot", "right_foot"),
    "torso": ("spine1", "spine2", "spine3", "neck", "left_collar", "right_collar"),
    "head": ("head",),
    "arm": ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist"),
}
HUMAN_HEIGHT = {"male": (1.68, 1.92), "female": (1.55, 1.78), "juvenile": (1.0, 1.45)}


def human_offsets(gender: str, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    if gender not in GENDERS:
        raise ValueError(f"unknown gender {gender!r}; use one of {GENDERS}")
    names = HUMANML22.joint_names
    size = rng.uniform(*HUMAN_HEIGHT[gender]) / 1.72
    factor = {g: rng.uniform(0.94, 1.06) for g in _HUMAN_GROUPS}
    if gender == "juvenile":  # children: bigger heads, shorter legs relative to the body
        factor["head"] *= 1.3
        factor["leg"] *= 0.9
        factor["arm"] *= 0.93
    hip_w = rng.uniform(0.9, 1.1) * (1.12 if gender == "female" else 1.0)
    shoulder_w = rng.uniform(0.9, 1.1) * (1.1 if gender == "male" else 0.95)
    off = HUMANML22.offsets.copy()
    for group, joints in _HUMAN_GROUPS.items():
        for n in joints:
            off[names.index(n)] *= factor[group]
    for n in ("left_hip", "right_hip"):
        off[names.index(n), 0] *= hip_w
    for n in ("left_collar", "right_collar"):
        off[names.index(n), 0] *= shoulder_w
    return off * size, float(size)


def human_body(gender: str, rng: np.random.Generator) -> Body:
    off, size = human_offsets(gender, rng)
    idx = HUMANML22.joint_names.index
    a, b = (float(np.linalg.norm(off[idx(j)])) for j in ("left_knee", "left_ankle"))
    ankle_h = -off[idx("left_foot"), 1]  # toes on the floor, foot flat
    hip_h = ankle_h + 0.975 * (a + b)
    height = hip_h - off[idx("left_hip"), 1]
    lx = off[idx("left_hip"), 0] + off[idx("left_knee"), 0] + off[idx("left_ankle"), 0]
    lz = off[idx("left_hip"), 2] + 0.02 * size
    home = np.array([[lx, lz], [lx, lz], [-lx, lz], [-lx, lz]])[[0, 2]]  # left, right foot
    off[0] = (0.0, height, 0.0)
    return Body(HUMANML22, off, float(height), 0.0, float(hip_h), home, float(ankle_h), size, 0.0)
