"""Forward and inverse kinematics on any `SkeletonSpec`, plus the rotation helpers they need.

Rotations are 3x3 matrices. A joint's local rotation L_j turns the offsets of its children; its global
rotation is G_j = G_parent(j) @ L_j and a child sits at p_c = p_j + G_j @ offset_c (the BVH convention).
The numpy functions work in float64; `rotation_6d` / `rotation_from_6d` have torch twins for the models.
"""
from __future__ import annotations

import numpy as np
import torch

from utils.skeleton import SkeletonSpec

_EPS = 1e-9


def swing_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., 3), (..., 3) -> (..., 3, 3): the smallest rotation that turns direction u onto direction v."""
    a = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), _EPS)
    b = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), _EPS)
    c = np.cross(a, b)
    cos = np.sum(a * b, axis=-1)
    K = _skew(c)
    # Rodrigues with sin folded in: R = I + K + K^2 / (1 + cos); exact and smooth away from cos = -1
    R = np.eye(3) + K + K @ K / np.maximum(1.0 + cos, _EPS)[..., None, None]
    opposite = cos < -1.0 + 1e-7
    if np.any(opposite):  # half turn about any axis perpendicular to a
        aa = a[opposite]
        helper = np.where(np.abs(aa[:, :1]) < 0.9, np.array([[1.0, 0, 0]]), np.array([[0, 1.0, 0]]))
        axis = np.cross(aa, helper)
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        R[opposite] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return R


def kabsch_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(..., K, 3), (..., K, 3) -> (..., 3, 3): the rotation R minimising sum_k |R u_k - v_k|^2 (no reflection)."""
    H = np.einsum("...ki,...kj->...ij", u, v)  # (..., 3, 3)
    A, _, Bt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Bt, -1, -2) @ np.swapaxes(A, -1, -2)))
    D = np.broadcast_to(np.eye(3), H.shape).copy()
    D[..., 2, 2] = np.where(d == 0, 1.0, d)
    return np.swapaxes(Bt, -1, -2) @ D @ np.swapaxes(A, -1, -2)


def _skew(c: np.ndarray) -> np.ndarray:
    K = np.zeros(c.shape[:-1] + (3, 3))
    K[..., 0, 1], K[..., 0, 2] = -c[..., 2], c[..., 1]
    K[..., 1, 0], K[..., 1, 2] = c[..., 2], -c[..., 0]
    K[..., 2, 0], K[..., 2, 1] = -c[..., 1], c[..., 0]
    return K


def forward_kinematics(spec: SkeletonSpec, local_rot: np.ndarray, root_pos: np.ndarray,
                       offsets: np.ndarray | None = None) -> np.ndarray:
    """(T, J, 3, 3) local rotations + (T, 3) root positions -> (T, J, 3) joint positions."""
    offsets = spec.offsets if offsets is None else np.asarray(offsets, dtype=np.float64)
    T, J = local_rot.shape[:2]
    glob = np.empty((T, J, 3, 3))
    pos = np.empty((T, J, 3))
    glob[:, 0] = local_rot[:, 0]
    pos[:, 0] = root_pos
    for j in range(1, J):
        p = spec.parents[j]
        pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
        glob[:, j] = glob[:, p] @ local_rot[:, j]
    return pos


def estimate_offsets(spec: SkeletonSpec, joints: np.ndarray) -> np.ndarray:
    """(T, J, 3) positions -> (J, 3) the clip's own rest offsets, oriented like the spec's rest pose.

    Single children keep the spec's rest direction with the clip's median bone length. For joints with several
    children (pelvis, chest) the relative layout of the children is the clip's own: each frame's child vectors are
    turned back into the rest frame by the best-fit rotation and averaged, so IK + FK stays exact for any rigid body.
    """
    joints = np.asarray(joints, dtype=np.float64)
    offsets = spec.offsets.copy()
    offsets[0] = np.median(joints[:, 0], axis=0)
    for j in range(spec.num_joints):
        kids = spec.children(j)
        if not kids:
            continue
        vecs = joints[:, kids] - joints[:, j:j + 1]  # (T, K, 3)
        if len(kids) == 1:
            length = np.median(np.linalg.norm(vecs[:, 0], axis=-1))
            rest = spec.offsets[kids[0]]
            offsets[kids[0]] = rest / max(np.linalg.norm(rest), _EPS) * length
            continue
        R = kabsch_rotation(spec.offsets[kids][None], vecs)  # (T, 3, 3) rest -> frame
        in_rest = np.einsum("tji,tkj->tki", R, vecs)  # R^T v for each child
        offsets[kids] = np.median(in_rest, axis=0)
    return offsets


def inverse_kinematics(spec: SkeletonSpec, joints: np.ndarray, offsets: np.ndarray | None = None,
                       track: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 3) positions -> ((T, J, 3, 3) local rotations, (J, 3) offsets used).

    Offsets default to the clip's own (`estimate_offsets`). A joint with one child gets the swing that points the
    child bone where it is (no twist, which positions cannot tell); with several children, the best-fit rotation of
    all of them; a leaf keeps the identity. FK of the result with the returned offsets gives back the positions of
    a rigid body. Positions whose bone lengths vary (decoded or lifted motion) cannot be met exactly by any rigid
    skeleton: `track=True` then aims each bone from where FK has put its parent, not from the parent's given
    position, so a bone's length error stays at its own joint instead of adding up down the chain.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
        raise ValueError(f"expected joints of shape (T, {spec.num_joints}, 3) for skeleton {spec.name!r}, "
                         f"got {joints.shape}")
    offsets = estimate_offsets(spec, joints) if offsets is None else np.asarray(offsets, dtype=np.float64)
    T, J = joints.shape[:2]
    local = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    glob = np.empty((T, J, 3, 3))
    fitted = joints.copy()  # where FK puts each joint (== joints unless track)
    for j in range(J):
        parent_glob = np.broadcast_to(np.eye(3), (T, 3, 3)) if j == 0 else glob[:, spec.parents[j]]
        if track and j > 0:
            fitted[:, j] = fitted[:, spec.parents[j]] + parent_glob @ offsets[j]
        kids = spec.children(j)
        if kids:
            origin = fitted[:, j:j + 1] if track else joints[:, j:j + 1]
            vecs = joints[:, kids] - origin  # (T, K, 3) world
            vecs = np.einsum("tji,tkj->tki", parent_glob, vecs)  # into the parent's frame
            if len(kids) == 1:
                local[:, j] = swing_rotation(np.broadcast_to(offsets[kids[0]], (T, 3)), vecs[:, 0])
            else:
                local[:, j] = kabsch_rotation(offsets[kids][None], vecs)
        glob[:, j] = parent_glob @ local[:, j]
    return local, offsets


# ---- continuous 6D rotations (Zhou et al. 2019): the first two columns of the matrix ---------------------------
def rotation_6d(R: np.ndarray) -> np.ndarray:
    """(..., 3, 3) -> (..., 6)."""
    return np.concatenate([R[..., :, 0], R[..., :, 1]], axis=-1)


def rotation_from_6d(d6: np.ndarray | torch.Tensor):
    """(..., 6) -> (..., 3, 3) by Gram-Schmidt; numpy or torch in, the same type out."""
    lib = torch if isinstance(d6, torch.Tensor) else np
    a1, a2 = d6[..., :3], d6[..., 3:]

    def normalize(x):
        if lib is torch:
            return torch.nn.functional.normalize(x, dim=-1)
        return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), _EPS)

    b1 = normalize(a1)
    b2 = normalize(a2 - (b1 * a2).sum(-1, keepdims=True) * b1)
    b3 = lib.cross(b1, b2, axis=-1) if lib is np else torch.cross(b1, b2, dim=-1)
    return lib.stack([b1, b2, b3], axis=-1) if lib is np else torch.stack([b1, b2, b3], dim=-1)


def yaw_rotate(v, angle):
    """Rotate (..., 3) vectors about +Y by `angle` (...), numpy or torch: x' = x cos + z sin, z' = -x sin + z cos."""
    lib = torch if isinstance(v, torch.Tensor) else np
    c, s = lib.cos(angle), lib.sin(angle)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    out = [x * c + z * s, y, -x * s + z * c]
    return lib.stack(out, axis=-1) if lib is np else torch.stack(out, dim=-1)
