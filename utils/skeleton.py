"""Skeleton specs: the one place that knows a skeleton's joints, hierarchy, rest pose and feature layout.

Every other module asks a `SkeletonSpec` instead of branching on a data set's name. Conventions for all
built-in specs: metres, Y up, the body faces +Z in the rest pose and the subject's left is +X.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class FeatureSlices:
    """Where each part of the HumanML3D-style feature vector lives (see REFERENCE.md)."""

    root_rot_vel: slice  # (1,) half the yaw change per frame, radians (HumanML3D's convention)
    root_lin_vel: slice  # (2,) ground-plane root velocity in the facing frame, metres per frame
    root_height: slice  # (1,)
    ric: slice  # (3(J-1),) root-relative, facing-aligned joint positions
    rot: slice  # (6(J-1),) continuous 6D local joint rotations
    vel: slice  # (3J,) joint velocities in the facing frame, metres per frame
    contacts: slice  # (F,) binary foot contacts
    dim: int

    @property
    def root(self) -> slice:
        """The four root features: yaw velocity, ground velocity and height."""
        return slice(self.root_rot_vel.start, self.root_height.stop)

    def as_dict(self) -> dict[str, tuple[int, int]]:
        names = ("root_rot_vel", "root_lin_vel", "root_height", "ric", "rot", "vel", "contacts")
        return {n: (getattr(self, n).start, getattr(self, n).stop) for n in names}


@dataclass(frozen=True)
class SkeletonSpec:
    """A skeleton: joint names, parents (root first, parents before children) and rest offsets.

    foot_joints give the contact labels; face_joints are (right hip, left hip, right shoulder, left shoulder),
    whose left-to-right vectors define the facing direction as in HumanML3D; mirror_pairs map left to right.
    Contact thresholds scale with the clip's leg length so one spec serves a rabbit and an elephant:
    a foot is in contact when its speed is below contact_froude * sqrt(g * leg) and its height is within
    contact_height * leg of its lowest point in the clip.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray = field(repr=False)  # (J, 3) rest offsets from each joint's parent; row 0 is the root's rest position
    foot_joints: tuple[int, ...] = ()
    face_joints: tuple[int, int, int, int] | None = None
    chains: tuple[tuple[int, ...], ...] = ()
    mirror_pairs: tuple[tuple[int, int], ...] = ()
    up_axis: str = "y"
    fps: float = 20.0
    contact_froude: float = 0.2
    contact_height: float = 0.1

    def __post_init__(self):
        J = len(self.joint_names)
        offsets = np.asarray(self.offsets, dtype=np.float64).reshape(-1, 3)
        object.__setattr__(self, "offsets", offsets)
        offsets.setflags(write=False)
        problems = []
        if len(self.parents) != J or offsets.shape[0] != J:
            problems.append(f"{J} joint names, {len(self.parents)} parents and {offsets.shape[0]} offsets")
        if self.parents and self.parents[0] != -1:
            problems.append("joint 0 must be the root (parent -1)")
        for j, p in enumerate(self.parents[1:], start=1):
            if not 0 <= p < j:
                problems.append(f"joint {j} ({self.joint_names[j]}) has parent {p}; parents must come before children")
        for j in (*self.foot_joints, *(self.face_joints or ()), *(i for c in self.chains for i in c),
                  *(i for pair in self.mirror_pairs for i in pair)):
            if not 0 <= j < J:
                problems.append(f"joint index {j} is out of range 0..{J - 1}")
        for chain in self.chains:
            for a, b in zip(chain[:-1], chain[1:]):
                if self.parents[b] != a:
                    problems.append(f"chain {chain} is not a parent-to-child path at {a}->{b}")
        if self.up_axis not in ("y", "z"):
            problems.append(f"up_axis must be 'y' or 'z', got {self.up_axis!r}")
        if problems:
            raise ValueError(f"skeleton spec {self.name!r} is invalid: " + "; ".join(problems))

    # ---- sizes and feature layout -------------------------------------------------------------------------
    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_feet(self) -> int:
        return len(self.foot_joints)

    @property
    def feature_dim(self) -> int:
        """4 root + 3(J-1) ric + 6(J-1) rot + 3J vel + F contacts; 12J-1 when there are four feet."""
        J = self.num_joints
        return 4 + 9 * (J - 1) + 3 * J + self.num_feet

    @property
    def slices(self) -> FeatureSlices:
        J, F = self.num_joints, self.num_feet
        ric0 = 4
        rot0 = ric0 + 3 * (J - 1)
        vel0 = rot0 + 6 * (J - 1)
        con0 = vel0 + 3 * J
        return FeatureSlices(
            root_rot_vel=slice(0, 1), root_lin_vel=slice(1, 3), root_height=slice(3, 4),
            ric=slice(ric0, rot0), rot=slice(rot0, vel0), vel=slice(vel0, con0), contacts=slice(con0, con0 + F),
            dim=con0 + F,
        )

    def joint_feature_index(self, j: int) -> np.ndarray:
        """Feature dims describing joint j: for the root its 4 root features + velocity, else ric + rot + vel."""
        s = self.slices
        vel = np.arange(s.vel.start + 3 * j, s.vel.start + 3 * j + 3)
        if j == 0:
            return np.concatenate([np.arange(s.root.start, s.root.stop), vel])
        ric = np.arange(s.ric.start + 3 * (j - 1), s.ric.start + 3 * j)
        rot = np.arange(s.rot.start + 6 * (j - 1), s.rot.start + 6 * j)
        return np.concatenate([ric, rot, vel])

    # ---- structure ---------------------------------------------------------------------------------------
    def children(self, j: int) -> list[int]:
        return [c for c, p in enumerate(self.parents) if p == j]

    @property
    def mirror_permutation(self) -> np.ndarray:
        """perm[j] is the joint that j becomes when the body is mirrored left-to-right."""
        perm = np.arange(self.num_joints)
        for a, b in self.mirror_pairs:
            perm[a], perm[b] = b, a
        return perm

    def mirror(self, points):
        """(..., J, C) numpy array or tensor -> the body mirrored left-to-right: left and right joints swapped and the
        first coordinate (x in 3D, u in an image) negated; any further channels (y, z, v, confidence) kept."""
        out = points[..., self.mirror_permutation, :]  # advanced indexing: a copy, so negating in place is safe
        out[..., 0] = -out[..., 0]
        return out

    @property
    def bone_lengths(self) -> np.ndarray:
        """(J,) rest length of the bone from each joint's parent (0 for the root)."""
        lengths = np.linalg.norm(self.offsets, axis=-1)
        lengths[0] = 0.0
        return lengths

    def rest_pose(self) -> np.ndarray:
        """(J, 3) joint positions of the rest pose."""
        pos = np.zeros((self.num_joints, 3))
        pos[0] = self.offsets[0]
        for j in range(1, self.num_joints):
            pos[j] = pos[self.parents[j]] + self.offsets[j]
        return pos

    def leg_length(self, joints: np.ndarray | None = None) -> float:
        """Length of the first foot's chain up to the root; from a clip's joints (T, J, 3) if given."""
        if not self.foot_joints:
            return 1.0
        chain = []
        j = self.foot_joints[0]
        while j > 0:
            chain.append(j)
            j = self.parents[j]
        if joints is None:
            return float(self.bone_lengths[chain].sum())
        bones = joints[:, chain] - joints[:, [self.parents[c] for c in chain]]
        return float(np.median(np.linalg.norm(bones, axis=-1).sum(-1)))

    # ---- (de)serialisation so a data set or checkpoint can carry a custom skeleton --------------------------
    def to_dict(self) -> dict:
        return {
            "name": self.name, "joint_names": list(self.joint_names), "parents": list(self.parents),
            "offsets": np.round(self.offsets, 6).tolist(), "foot_joints": list(self.foot_joints),
            "face_joints": list(self.face_joints) if self.face_joints else None,
            "chains": [list(c) for c in self.chains], "mirror_pairs": [list(p) for p in self.mirror_pairs],
            "up_axis": self.up_axis, "fps": self.fps,
            "contact_froude": self.contact_froude, "contact_height": self.contact_height,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "SkeletonSpec":
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown skeleton fields {sorted(unknown)}; known: {sorted(known)}")
        return cls(
            name=d["name"], joint_names=tuple(d["joint_names"]), parents=tuple(d["parents"]),
            offsets=np.asarray(d["offsets"], dtype=np.float64), foot_joints=tuple(d.get("foot_joints", ())),
            face_joints=tuple(d["face_joints"]) if d.get("face_joints") else None,
            chains=tuple(tuple(c) for c in d.get("chains", ())),
            mirror_pairs=tuple(tuple(p) for p in d.get("mirror_pairs", ())),
            up_axis=d.get("up_axis", "y"), fps=float(d.get("fps", 20.0)),
            contact_froude=float(d.get("contact_froude", 0.2)), contact_height=float(d.get("contact_height", 0.1)),
        )

    def save(self, path: str | Path) -> None:
        from utils.io import atomic_write_text

        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))

    def same_layout(self, other: "SkeletonSpec") -> bool:
        """True if both have the same joints and hierarchy (offsets may differ: they are per-body)."""
        return (self.joint_names == other.joint_names and self.parents == other.parents
                and self.foot_joints == other.foot_joints)


def _spec(name, joints, foot, face, chains, mirror, **kw) -> SkeletonSpec:
    """Build a spec from a list of (name, parent_name, offset) rows."""
    names = tuple(n for n, _, _ in joints)
    index = {n: i for i, n in enumerate(names)}
    parents = tuple(-1 if p is None else index[p] for _, p, _ in joints)
    ids = lambda seq: tuple(index[n] for n in seq)  # noqa: E731
    return SkeletonSpec(
        name=name, joint_names=names, parents=parents, offsets=np.array([o for _, _, o in joints], dtype=np.float64),
        foot_joints=ids(foot), face_joints=ids(face), chains=tuple(ids(c) for c in chains),
        mirror_pairs=tuple(ids(p) for p in mirror), **kw,
    )


def _mirror_by_prefix(names, left="l", right="r"):
    """Pairs (left_x, right_x) for names that start with the left/right prefix."""
    pairs = []
    for n in names:
        for lp, rp in ((f"{left}_", f"{right}_"), (f"{left}f_", f"{right}f_"), (f"{left}h_", f"{right}h_"),
                       ("left_", "right_")):
            if n.startswith(lp) and n.replace(lp, rp, 1) in names:
                pairs.append((n, n.replace(lp, rp, 1)))
    return pairs


# ---- animo30: AniMo's shared 30-joint quadruped (a mid-sized dog in the rest pose) ----------------------------
_ANIMO30 = [
    ("root", None, (0.0, 0.50, 0.0)),
    ("spine1", "root", (0.0, 0.01, 0.13)),
    ("spine2", "spine1", (0.0, 0.01, 0.14)),
    ("spine3", "spine2", (0.0, 0.01, 0.13)),
    ("neck1", "spine3", (0.0, 0.07, 0.06)),
    ("neck2", "neck1", (0.0, 0.07, 0.05)),
    ("head", "neck2", (0.0, 0.05, 0.06)),
    ("jaw", "head", (0.0, -0.04, 0.10)),
    ("l_eye", "head", (0.035, 0.04, 0.07)),
    ("r_eye", "head", (-0.035, 0.04, 0.07)),
    ("tail1", "root", (0.0, 0.02, -0.08)),
    ("tail2", "tail1", (0.0, 0.0, -0.10)),
    ("tail3", "tail2", (0.0, -0.02, -0.10)),
    ("tail4", "tail3", (0.0, -0.03, -0.09)),
    ("lf_shoulder", "spine3", (0.08, -0.06, 0.02)),
    ("lf_elbow", "lf_shoulder", (0.0, -0.18, -0.02)),
    ("lf_wrist", "lf_elbow", (0.0, -0.17, 0.0)),
    ("lf_paw", "lf_wrist", (0.0, -0.10, 0.04)),
    ("rf_shoulder", "spine3", (-0.08, -0.06, 0.02)),
    ("rf_elbow", "rf_shoulder", (0.0, -0.18, -0.02)),
    ("rf_wrist", "rf_elbow", (0.0, -0.17, 0.0)),
    ("rf_paw", "rf_wrist", (0.0, -0.10, 0.04)),
    ("lh_hip", "root", (0.08, -0.04, 0.0)),
    ("lh_knee", "lh_hip", (0.0, -0.16, 0.04)),
    ("lh_hock", "lh_knee", (0.0, -0.16, -0.07)),
    ("lh_paw", "lh_hock", (0.0, -0.12, 0.03)),
    ("rh_hip", "root", (-0.08, -0.04, 0.0)),
    ("rh_knee", "rh_hip", (0.0, -0.16, 0.04)),
    ("rh_hock", "rh_knee", (0.0, -0.16, -0.07)),
    ("rh_paw", "rh_hock", (0.0, -0.12, 0.03)),
]
ANIMO30 = _spec(
    "animo30", _ANIMO30,
    foot=("lf_paw", "rf_paw", "lh_paw", "rh_paw"),
    face=("rh_hip", "lh_hip", "rf_shoulder", "lf_shoulder"),
    chains=(
        ("root", "spine1", "spine2", "spine3"),
        ("spine3", "neck1", "neck2", "head", "jaw"),
        ("head", "l_eye"), ("head", "r_eye"),
        ("root", "tail1", "tail2", "tail3", "tail4"),
        ("spine3", "lf_shoulder", "lf_elbow", "lf_wrist", "lf_paw"),
        ("spine3", "rf_shoulder", "rf_elbow", "rf_wrist", "rf_paw"),
        ("root", "lh_hip", "lh_knee", "lh_hock", "lh_paw"),
        ("root", "rh_hip", "rh_knee", "rh_hock", "rh_paw"),
    ),
    mirror=_mirror_by_prefix([n for n, _, _ in _ANIMO30]),
)

# ---- humanml22: SMPL's first 22 joints in HumanML3D order (adult neutral body, T-pose) -------------------------
_HUMANML22 = [
    ("pelvis", None, (0.0, 0.93, 0.0)),
    ("left_hip", "pelvis", (0.06, -0.085, -0.015)),
    ("right_hip", "pelvis", (-0.06, -0.085, -0.015)),
    ("spine1", "pelvis", (0.0, 0.12, -0.03)),
    ("left_knee", "left_hip", (0.04, -0.385, 0.005)),
    ("right_knee", "right_hip", (-0.04, -0.385, 0.005)),
    ("spine2", "spine1", (0.0, 0.135, 0.025)),
    ("left_ankle", "left_knee", (-0.015, -0.405, -0.035)),
    ("right_ankle", "right_knee", (0.015, -0.405, -0.035)),
    ("spine3", "spine2", (0.0, 0.055, 0.0)),
    ("left_foot", "left_ankle", (0.035, -0.055, 0.12)),
    ("right_foot", "right_ankle", (-0.035, -0.055, 0.12)),
    ("neck", "spine3", (0.0, 0.21, -0.03)),
    ("left_collar", "spine3", (0.075, 0.115, -0.02)),
    ("right_collar", "spine3", (-0.075, 0.115, -0.02)),
    ("head", "neck", (0.0, 0.09, 0.05)),
    ("left_shoulder", "left_collar", (0.12, 0.045, -0.015)),
    ("right_shoulder", "right_collar", (-0.12, 0.045, -0.015)),
    ("left_elbow", "left_shoulder", (0.255, -0.015, -0.025)),
    ("right_elbow", "right_shoulder", (-0.255, -0.015, -0.025)),
    ("left_wrist", "left_elbow", (0.265, 0.01, -0.005)),
    ("right_wrist", "right_elbow", (-0.265, 0.01, -0.005)),
]
HUMANML22 = _spec(
    "humanml22", _HUMANML22,
    foot=("left_ankle", "left_foot", "right_ankle", "right_foot"),  # HumanML3D's fid_l then fid_r
    face=("right_hip", "left_hip", "right_shoulder", "left_shoulder"),
    chains=(  # HumanML3D's t2m_kinematic_chain
        ("pelvis", "right_hip", "right_knee", "right_ankle", "right_foot"),
        ("pelvis", "left_hip", "left_knee", "left_ankle", "left_foot"),
        ("pelvis", "spine1", "spine2", "spine3", "neck", "head"),
        ("spine3", "right_collar", "right_shoulder", "right_elbow", "right_wrist"),
        ("spine3", "left_collar", "left_shoulder", "left_elbow", "left_wrist"),
    ),
    mirror=_mirror_by_prefix([n for n, _, _ in _HUMANML22]),
)

# ---- h36m17: Human3.6M's 17 joints in MotionBERT's order ------------------------------------------------------
_H36M17 = [
    ("pelvis", None, (0.0, 0.92, 0.0)),
    ("r_hip", "pelvis", (-0.13, 0.0, 0.0)),
    ("r_knee", "r_hip", (0.0, -0.44, 0.0)),
    ("r_ankle", "r_knee", (0.0, -0.44, 0.0)),
    ("l_hip", "pelvis", (0.13, 0.0, 0.0)),
    ("l_knee", "l_hip", (0.0, -0.44, 0.0)),
    ("l_ankle", "l_knee", (0.0, -0.44, 0.0)),
    ("spine", "pelvis", (0.0, 0.23, 0.0)),
    ("thorax", "spine", (0.0, 0.25, 0.0)),
    ("nose", "thorax", (0.0, 0.11, 0.07)),
    ("head", "nose", (0.0, 0.10, -0.06)),
    ("l_shoulder", "thorax", (0.15, -0.02, 0.0)),
    ("l_elbow", "l_shoulder", (0.28, 0.0, 0.0)),
    ("l_wrist", "l_elbow", (0.25, 0.0, 0.0)),
    ("r_shoulder", "thorax", (-0.15, -0.02, 0.0)),
    ("r_elbow", "r_shoulder", (-0.28, 0.0, 0.0)),
    ("r_wrist", "r_elbow", (-0.25, 0.0, 0.0)),
]
H36M17 = _spec(
    "h36m17", _H36M17,
    foot=("l_ankle", "r_ankle"),
    face=("r_hip", "l_hip", "r_shoulder", "l_shoulder"),
    chains=(
        ("pelvis", "r_hip", "r_knee", "r_ankle"),
        ("pelvis", "l_hip", "l_knee", "l_ankle"),
        ("pelvis", "spine", "thorax", "nose", "head"),
        ("thorax", "l_shoulder", "l_elbow", "l_wrist"),
        ("thorax", "r_shoulder", "r_elbow", "r_wrist"),
    ),
    mirror=_mirror_by_prefix([n for n, _, _ in _H36M17]),
    fps=50.0,
)

SKELETONS: dict[str, SkeletonSpec] = {s.name: s for s in (ANIMO30, HUMANML22, H36M17)}

# ---- coco17: the 2D keypoint order of COCO detectors (MMPose, YOLO-pose, Detectron2 ...) ------------------------
COCO17_NAMES = (
    "nose", "l_eye", "r_eye", "l_ear", "r_ear", "l_shoulder", "r_shoulder", "l_elbow", "r_elbow",
    "l_wrist", "r_wrist", "l_hip", "r_hip", "l_knee", "r_knee", "l_ankle", "r_ankle",
)


def _regressor(rows: dict[str, dict[str, float]], src: tuple[str, ...], dst: SkeletonSpec) -> np.ndarray:
    """(len(dst), len(src)) matrix: each target joint as a weighted sum of source joints."""
    W = np.zeros((dst.num_joints, len(src)))
    for name, weights in rows.items():
        for s, w in weights.items():
            W[dst.joint_names.index(name), src.index(s)] = w
    assert np.allclose(W.sum(1), 1.0), "every target joint must be an affine combination"
    return W


# COCO has no pelvis, spine or thorax: they are hip / shoulder midpoints as in MotionBERT's in-the-wild inference.
COCO17_TO_H36M17 = _regressor({
    "pelvis": {"l_hip": 0.5, "r_hip": 0.5},
    "r_hip": {"r_hip": 1}, "r_knee": {"r_knee": 1}, "r_ankle": {"r_ankle": 1},
    "l_hip": {"l_hip": 1}, "l_knee": {"l_knee": 1}, "l_ankle": {"l_ankle": 1},
    "spine": {"l_hip": 0.25, "r_hip": 0.25, "l_shoulder": 0.25, "r_shoulder": 0.25},
    "thorax": {"l_shoulder": 0.5, "r_shoulder": 0.5},
    "nose": {"nose": 1},
    "head": {"l_eye": 0.5, "r_eye": 0.5},
    "l_shoulder": {"l_shoulder": 1}, "l_elbow": {"l_elbow": 1}, "l_wrist": {"l_wrist": 1},
    "r_shoulder": {"r_shoulder": 1}, "r_elbow": {"r_elbow": 1}, "r_wrist": {"r_wrist": 1},
}, COCO17_NAMES, H36M17)

# The h36m joints from SMPL's: spine between spine1 and spine2, thorax at spine3-neck, head above the SMPL head.
HUMANML22_TO_H36M17 = _regressor({
    "pelvis": {"pelvis": 1},
    "r_hip": {"right_hip": 1}, "r_knee": {"right_knee": 1}, "r_ankle": {"right_ankle": 1},
    "l_hip": {"left_hip": 1}, "l_knee": {"left_knee": 1}, "l_ankle": {"left_ankle": 1},
    "spine": {"spine1": 0.5, "spine2": 0.5},
    "thorax": {"spine3": 0.5, "neck": 0.5},
    "nose": {"head": 1},
    "head": {"head": 1.5, "neck": -0.5},
    "l_shoulder": {"left_shoulder": 1}, "l_elbow": {"left_elbow": 1}, "l_wrist": {"left_wrist": 1},
    "r_shoulder": {"right_shoulder": 1}, "r_elbow": {"right_elbow": 1}, "r_wrist": {"right_wrist": 1},
}, HUMANML22.joint_names, H36M17)


def coco17_to_h36m17(keypoints: np.ndarray) -> np.ndarray:
    """(..., 17, 2|3) COCO keypoints -> (..., 17, 2|3) h36m17; a derived joint's score is the lowest of its sources."""
    keypoints = np.asarray(keypoints)
    if keypoints.shape[-2] != 17 or keypoints.shape[-1] not in (2, 3):
        raise ValueError(f"COCO-17 keypoints must have shape (..., 17, 2) or (..., 17, 3), got {keypoints.shape}")
    xy = np.einsum("hc,...cd->...hd", COCO17_TO_H36M17, keypoints[..., :2])
    if keypoints.shape[-1] == 2:
        return xy
    scores = keypoints[..., 2]
    used = COCO17_TO_H36M17 != 0  # (17, 17) which sources feed each target
    conf = np.where(used, scores[..., None, :], np.inf).min(-1)
    return np.concatenate([xy, conf[..., None]], axis=-1)


def humanml22_to_h36m17(joints: np.ndarray) -> np.ndarray:
    """(..., 22, 3) SMPL/HumanML3D joints -> (..., 17, 3) Human3.6M joints."""
    joints = np.asarray(joints)
    if joints.shape[-2] != 22:
        raise ValueError(f"humanml22 joints must have 22 joints on axis -2, got shape {joints.shape}")
    return np.einsum("hc,...cd->...hd", HUMANML22_TO_H36M17, joints)


def get_skeleton(name_or_path: str | Path | SkeletonSpec) -> SkeletonSpec:
    """A built-in spec by name, or a custom one from a JSON file written by `SkeletonSpec.save`."""
    if isinstance(name_or_path, SkeletonSpec):
        return name_or_path
    if str(name_or_path) in SKELETONS:
        return SKELETONS[str(name_or_path)]
    path = Path(name_or_path)
    if path.suffix == ".json" and path.is_file():
        try:
            return SkeletonSpec.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise ValueError(f"{path}: not a valid skeleton spec JSON ({e})") from e
    raise ValueError(f"unknown skeleton {str(name_or_path)!r}: use one of {sorted(SKELETONS)} "
                     f"or the path of a skeleton .json file")


def skeleton_ref(spec: SkeletonSpec) -> str | dict:
    """What a config or data set stores to name a skeleton: a built-in's name, or a custom spec in full."""
    return spec.name if SKELETONS.get(spec.name) is spec else spec.to_dict()


def skeleton_for_joint_count(num_joints: int) -> SkeletonSpec:
    """The built-in spec with `num_joints` joints (22 -> humanml22, 30 -> animo30, 17 -> h36m17)."""
    fits = [s for s in SKELETONS.values() if s.num_joints == num_joints]
    if len(fits) != 1:
        counts = {s.name: s.num_joints for s in SKELETONS.values()}
        raise ValueError(f"no single built-in skeleton has {num_joints} joints ({counts})")
    return fits[0]


def skeleton_for_feature_dim(dim: int) -> SkeletonSpec:
    """The built-in spec whose feature width is `dim` (263 -> humanml22, 359 -> animo30)."""
    for spec in SKELETONS.values():
        if spec.feature_dim == dim:
            return spec
    widths = {s.name: s.feature_dim for s in SKELETONS.values()}
    raise ValueError(f"no built-in skeleton has {dim}-dim features ({widths}); give the skeleton explicitly")
