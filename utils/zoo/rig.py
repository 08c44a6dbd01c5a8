"""Rigs: control channels + planned feet -> joint positions with bones of constant length.

The trunk, neck, head, tail and arms are posed by forward kinematics from local rotations; each leg is solved by
exact two-bone IK from its hip (or shoulder) to a low joint (hock, wrist, ankle) placed at a fixed distance from the
planted foot, so every bone keeps its rest length in every frame.
"""
from __future__ import annotations

import numpy as np

from utils.kinematics import forward_kinematics
from utils.zoo.bodies import Body


def rot_x(a: np.ndarray) -> np.ndarray:
    """(T,) -> (T, 3, 3)."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(*np.shape(a), 3, 3)


def rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(*np.shape(a), 3, 3)


def rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(*np.shape(a), 3, 3)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)


def two_bone(top: np.ndarray, low: np.ndarray, a: float, b: float, pole: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact two-bone IK: (T, 3) top joint and target of the low joint -> (mid, reached low, clamped mask).

    The middle joint bends toward `pole` (T, 3); a target out of reach is pulled onto the reachable shell.
    """
    d = low - top
    dist = np.linalg.norm(d, axis=-1)
    lo, hi = abs(a - b) + 1e-4, a + b - 1e-4
    clamped = (dist < lo) | (dist > hi)
    dist_c = np.clip(dist, lo, hi)
    dhat = _unit(d)
    low_c = top + dhat * dist_c[:, None]
    cos_a = np.clip((a * a + dist_c ** 2 - b * b) / (2 * a * dist_c), -1.0, 1.0)
    perp = pole - np.sum(pole * dhat, -1, keepdims=True) * dhat
    perp = _unit(perp)
    mid = top + a * (cos_a[:, None] * dhat + np.sqrt(1 - cos_a ** 2)[:, None] * perp)
    return mid, low_c, clamped


def _heading(yaw: np.ndarray) -> np.ndarray:
    return np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], axis=-1)


def _leg(joints, body: Body, names: tuple[str, str, str, str], foot: np.ndarray, yaw: np.ndarray,
         pole: np.ndarray, follow: float, flat: np.ndarray, flat_dir: np.ndarray) -> int:
    """Solve one leg in place. The foot segment hangs in its rest direction, turned part-way toward the top joint
    (`follow`) and folded toward `flat_dir` (heading frame) by the weight `flat` (T,). Returns clamped frames."""
    n = body.spec.joint_names.index
    top, mid, low, end = (n(x) for x in names)
    a = float(np.linalg.norm(body.offsets[mid]))
    b = float(np.linalg.norm(body.offsets[low]))
    c = float(np.linalg.norm(body.offsets[end]))
    turn = rot_y(yaw)  # (T, 3, 3)
    rest = turn @ _unit(-body.offsets[end])  # (T, 3) from the foot up to the low joint
    u = _unit(rest + follow * _unit(joints[:, top] - foot))
    folded = turn @ _unit(np.asarray(flat_dir, dtype=np.float64))
    u = _unit(u * (1 - flat)[:, None] + folded * flat[:, None])
    low_target = foot + c * u
    m, low_pos, clamped = two_bone(joints[:, top], low_target, a, b, pole)
    # a knee or elbow that would dip toward the floor (a folded leg of a lying animal) turns its bend upward
    low_mid = np.clip((0.1 * (a + b) - m[:, 1]) / (0.1 * (a + b)), 0.0, 1.0)
    if low_mid.any():
        m, low_pos, clamped = two_bone(joints[:, top], low_target, a, b,
                                       pole + 3.0 * low_mid[:, None] * np.array([0.0, 1.0, 0.0]))
    joints[:, mid] = m
    joints[:, low] = low_pos
    joints[:, end] = low_pos - c * u
    return int(clamped.sum())


ANIMAL_CHANNELS = ("pitch", "roll", "bend", "curl", "neck_yaw", "neck_down", "head_down", "head_roll", "jaw",
                   "tail_up", "tail_yaw", "fore_flat", "hind_flat")
HUMAN_CHANNELS = ("lean", "roll", "twist", "spine_bend", "neck_down", "head_yaw", "l_flex", "r_flex", "l_abd",
                  "r_abd", "l_elbow", "r_elbow")


def animal_trunk(body: Body, ch: dict, root: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """(T, J, 3) joints with the trunk, neck, head and tail posed (legs still in their rest shape)."""
    spec = body.spec
    n = spec.joint_names.index
    T = len(yaw)
    local = np.broadcast_to(np.eye(3), (T, spec.num_joints, 3, 3)).copy()
    local[:, 0] = rot_y(yaw) @ rot_x(-(body.pitch + ch["pitch"])) @ rot_z(ch["roll"])
    for j in ("spine1", "spine2", "spine3"):
        local[:, n(j)] = rot_y(ch["bend"] / 3) @ rot_x(ch["curl"] / 3)
    # the neck carries the opposite of the body pitch so the head stays level when the body tilts
    # the neck bends mostly at its base so a lowered neck stays straight instead of curling
    for j, share in (("neck1", 0.85), ("neck2", 0.15)):
        local[:, n(j)] = rot_y(ch["neck_yaw"] / 2) @ rot_x((ch["neck_down"] + 0.5 * ch["pitch"]) * share)
    local[:, n("head")] = rot_x(ch["head_down"] + 0.3 * ch["pitch"]) @ rot_z(ch["head_roll"])
    local[:, n("jaw")] = rot_x(ch["jaw"])
    for k in range(4):
        wag = ch["tail_yaw"] * (0.6 + 0.25 * k)
        local[:, n(f"tail{k + 1}")] = rot_y(wag / 2) @ rot_x(ch["tail_up"] / 4)
    return forward_kinematics(spec, local, root, body.offsets)


def animal_legs(body: Body, joints: np.ndarray, ch: dict, feet: np.ndarray, yaw: np.ndarray) -> int:
    """Solve the four legs in place for feet (T, 4, 3) in foot order (LF, RF, LH, RH); returns clamped frames."""
    fwd = _heading(yaw)
    up = np.array([0.0, 1.0, 0.0])
    clamped = 0
    for k, side in enumerate(("lf", "rf")):
        clamped += _leg(joints, body, (f"{side}_shoulder", f"{side}_elbow", f"{side}_wrist", f"{side}_paw"),
                        feet[:, k], yaw, -fwd + up, 0.8, ch["fore_flat"], (0.0, 0.25, -1.0))
    for k, side in enumerate(("lh", "rh")):
        clamped += _leg(joints, body, (f"{side}_hip", f"{side}_knee", f"{side}_hock", f"{side}_paw"),
                        feet[:, 2 + k], yaw, fwd + up, 0.8, ch["hind_flat"], (0.0, 0.12, -1.0))
    return clamped


def human_trunk(body: Body, ch: dict, root: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    spec = body.spec
    n = spec.joint_names.index
    T = len(yaw)
    local = np.broadcast_to(np.eye(3), (T, spec.num_joints, 3, 3)).copy()
    local[:, 0] = rot_y(yaw) @ rot_x(ch["lean"]) @ rot_z(ch["roll"])
    for j in ("spine1", "spine2", "spine3"):
        local[:, n(j)] = rot_y(ch["twist"] / 3) @ rot_x(ch["spine_bend"] / 3)
    local[:, n("neck")] = rot_x(ch["neck_down"] - 0.5 * (ch["lean"] + ch["spine_bend"]))
    local[:, n("head")] = rot_y(ch["head_yaw"])
    down = np.radians(78.0)  # arms hang from the T-pose
    local[:, n("left_shoulder")] = rot_x(-ch["l_flex"]) @ rot_z(-(down - ch["l_abd"]))
    local[:, n("right_shoulder")] = rot_x(-ch["r_flex"]) @ rot_z(down - ch["r_abd"])
    local[:, n("left_elbow")] = rot_y(-ch["l_elbow"])
    local[:, n("right_elbow")] = rot_y(ch["r_elbow"])
    return forward_kinematics(spec, local, root, body.offsets)


def human_legs(body: Body, joints: np.ndarray, feet: np.ndarray, foot_yaw: np.ndarray) -> int:
    """Solve both legs in place for ankles (T, 2, 3) (left, right); toes follow the planted foot's yaw."""
    n = body.spec.joint_names.index
    up = np.array([0.0, 1.0, 0.0])
    clamped = 0
    for k, side in enumerate(("left", "right")):
        hip, knee, ankle, toe = (n(f"{side}_{x}") for x in ("hip", "knee", "ankle", "foot"))
        a = float(np.linalg.norm(body.offsets[knee]))
        b = float(np.linalg.norm(body.offsets[ankle]))
        pole = _heading(foot_yaw[:, k]) + 0.4 * up
        m, low, cl = two_bone(joints[:, hip], feet[:, k], a, b, pole)
        joints[:, knee] = m
        joints[:, ankle] = low
        joints[:, toe] = low + np.einsum("tij,j->ti", rot_y(foot_yaw[:, k]), body.offsets[toe])
        clamped += int(cl.sum())
    return clamped
