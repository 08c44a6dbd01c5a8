"""HumanML3D-style motion features, generic in the number of joints J (12J-1 dims with four feet).

joints (T, J, 3) -> canonicalise -> features (T-1, D) -> recover_joints -> (T-1, J, 3), equal to the
canonicalised joints of frames 0..T-2 to float precision. The layout is `spec.slices`; REFERENCE.md has the table.
Two deliberate departures from HumanML3D's script, both invisible to a model reading the layout:
- the yaw velocity is taken from wrapped facing angles, not arcsin of a quaternion product, which in HumanML3D
  flips sign when the body turns through 180 degrees between two frames' representations;
- contacts use the foot's speed and its height above its lowest point, with thresholds scaled by the clip's
  leg length (HumanML3D uses one fixed speed threshold, which fits people only).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from utils.kinematics import forward_kinematics, inverse_kinematics, rotation_6d, yaw_rotate
from utils.skeleton import SkeletonSpec

GRAVITY = 9.81


def to_y_up(joints: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    """Joints in the spec's up axis -> Y up (a Z-up x, y, z becomes x, z, -y)."""
    if spec.up_axis == "y":
        return joints
    return np.stack([joints[..., 0], joints[..., 2], -joints[..., 1]], axis=-1)


def facing_angle(joints: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    """(..., J, 3) -> (...,) heading about +Y, 0 when facing +Z, from the hip and shoulder left-right vectors."""
    if spec.face_joints is None:
        raise ValueError(f"skeleton {spec.name!r} has no face_joints; features need them to find the facing direction")
    r_hip, l_hip, r_sh, l_sh = spec.face_joints
    across = (joints[..., r_hip, :] - joints[..., l_hip, :]) + (joints[..., r_sh, :] - joints[..., l_sh, :])
    # forward = up x across = (across_z, 0, -across_x)
    return np.arctan2(across[..., 2], -across[..., 0])


def canonicalize(joints: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    """HumanML3D's canonical frame: floor at height 0, root over the origin and facing +Z at the first frame."""
    P = to_y_up(np.asarray(joints, dtype=np.float64), spec).copy()
    P[..., 1] -= P[..., 1].min()
    P[..., [0, 2]] -= P[0, 0, [0, 2]]
    return yaw_rotate(P, -facing_angle(P[0], spec))


def foot_contacts(joints: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    """(T, J, 3) canonical joints -> (T-1, F) 1.0 where the foot is slow and near its lowest height."""
    feet = joints[:, list(spec.foot_joints)]  # (T, F, 3)
    leg = spec.leg_length(joints)
    speed = np.linalg.norm(feet[1:] - feet[:-1], axis=-1) * spec.fps  # (T-1, F) m/s
    height = feet[:-1, :, 1] - feet[:, :, 1].min(axis=0)
    slow = speed < spec.contact_froude * np.sqrt(GRAVITY * leg)
    low = height < spec.contact_height * leg
    return (slow & low).astype(np.float64)


def joints_to_features(joints: np.ndarray, spec: SkeletonSpec) -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 3) joints in metres -> ((T-1, D) float32 features, (T, J, 3) float32 canonical joints)."""
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
        raise ValueError(f"expected joints of shape (T, {spec.num_joints}, 3) for skeleton {spec.name!r}, "
                         f"got {joints.shape}")
    if joints.shape[0] < 2:
        raise ValueError(f"a motion needs at least 2 frames to have velocities, got {joints.shape[0]}")
    if not np.isfinite(joints).all():
        raise ValueError("joints contain NaN or Inf")
    P = canonicalize(joints, spec)  # (T, J, 3)
    T = P.shape[0]
    phi = -facing_angle(P, spec)  # (T,) yaw that turns each frame to face +Z

    # root: half the yaw change (HumanML3D stores the quaternion half-angle), ground velocity, height
    dphi = np.angle(np.exp(1j * (phi[1:] - phi[:-1])))
    root_rot_vel = dphi[:, None] / 2.0
    root_lin_vel = yaw_rotate(P[1:, 0] - P[:-1, 0], phi[1:])[:, [0, 2]]
    root_height = P[:-1, 0, 1:2]

    # ric: positions relative to the root on the ground, turned to face +Z
    local = P.copy()
    local[..., [0, 2]] -= P[:, :1, [0, 2]]
    local = yaw_rotate(local, phi[:, None])
    ric = local[:-1, 1:].reshape(T - 1, -1)

    rot6 = rotation_6d(inverse_kinematics(spec, P)[0])[:-1, 1:].reshape(T - 1, -1)
    vel = yaw_rotate(P[1:] - P[:-1], phi[:-1, None]).reshape(T - 1, -1)
    contacts = foot_contacts(P, spec)

    feats = np.concatenate([root_rot_vel, root_lin_vel, root_height, ric, rot6, vel, contacts], axis=-1)
    assert feats.shape[-1] == spec.feature_dim
    return feats.astype(np.float32), P.astype(np.float32)


def recover_root(features: torch.Tensor, spec: SkeletonSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """(..., T, D) -> ((..., T) yaw phi_t, (..., T, 3) root position) by integrating the root velocities."""
    s = spec.slices
    half = features[..., s.root_rot_vel][..., 0]  # (..., T)
    yaw = torch.zeros_like(half)
    yaw[..., 1:] = 2.0 * torch.cumsum(half[..., :-1], dim=-1)
    step = torch.zeros(features.shape[:-1] + (3,), dtype=features.dtype, device=features.device)
    step[..., 1:, 0] = features[..., :-1, s.root_lin_vel.start]
    step[..., 1:, 2] = features[..., :-1, s.root_lin_vel.start + 1]
    root = torch.cumsum(yaw_rotate(step, -yaw), dim=-2)
    root[..., 1] = features[..., s.root_height.start]
    return yaw, root


def recover_joints(features, spec: SkeletonSpec):
    """(..., T, D) features -> (..., T, J, 3) joints; torch in -> torch out (differentiable), numpy -> numpy."""
    is_numpy = not isinstance(features, torch.Tensor)
    x = torch.as_tensor(np.asarray(features, dtype=np.float64)) if is_numpy else features
    if x.shape[-1] != spec.feature_dim:
        raise ValueError(f"features have {x.shape[-1]} dims but skeleton {spec.name!r} needs {spec.feature_dim}")
    yaw, root = recover_root(x, spec)
    ric = x[..., spec.slices.ric].unflatten(-1, (spec.num_joints - 1, 3))  # (..., T, J-1, 3)
    ric = yaw_rotate(ric, -yaw[..., None])
    ric = ric + torch.stack([root[..., 0], torch.zeros_like(root[..., 0]), root[..., 2]], dim=-1)[..., None, :]
    joints = torch.cat([root[..., None, :], ric], dim=-2)
    return joints.numpy().astype(np.float32) if is_numpy else joints


def body_frame_joints(features, spec: SkeletonSpec):
    """(..., D) features -> (..., J, 3) joints in the body's own frame: the root at (0, height, 0), the others from
    the ric slice (facing +Z, heights absolute); the trajectory is left out. torch in -> torch out, numpy -> numpy
    (same dtype)."""
    is_numpy = not isinstance(features, torch.Tensor)
    x = torch.from_numpy(np.asarray(features)) if is_numpy else features
    s = spec.slices
    ric = x[..., s.ric].unflatten(-1, (spec.num_joints - 1, 3))  # (..., J-1, 3)
    root = F.pad(x[..., s.root_height], (1, 1))[..., None, :]  # (..., 1, 3)
    joints = torch.cat([root, ric], dim=-2)
    return joints.numpy() if is_numpy else joints


def fit_to_skeleton(features: np.ndarray, spec: SkeletonSpec, offsets: np.ndarray) -> np.ndarray:
    """(T, D) features + (J, 3) rest offsets -> (T, D): the joint positions and rotations refitted to that rigid body.

    Decoded motion has bones that stretch and shrink a little from frame to frame. Given the clip's own skeleton
    (`utils.kinematics.estimate_offsets` of its joints), inverse kinematics aims each bone from where forward
    kinematics has put its parent (`track=True`) and forward kinematics places the joints again: every bone gets its
    true length and the layout of the pelvis' and chest's children their true shape, so only posture is left of
    the decoder's error. The root's features, velocities and contacts are kept; for features of a rigid clip with
    these offsets the result equals the input.
    """
    features = np.asarray(features)
    offsets = np.asarray(offsets, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != spec.feature_dim:
        raise ValueError(f"features have shape {features.shape}; skeleton {spec.name!r} needs (T, {spec.feature_dim})")
    if offsets.shape != (spec.num_joints, 3) or not np.isfinite(offsets).all():
        raise ValueError(f"offsets must be the clip's finite ({spec.num_joints}, 3) rest offsets "
                         f"(utils.kinematics.estimate_offsets), got shape {offsets.shape}")
    s = spec.slices
    joints = body_frame_joints(features.astype(np.float64), spec)  # (T, J, 3)
    local, _ = inverse_kinematics(spec, joints, offsets=offsets, track=True)
    fitted = forward_kinematics(spec, local, joints[:, 0], offsets)
    out = features.copy()
    out[:, s.ric] = fitted[:, 1:].reshape(len(features), -1)
    out[:, s.rot] = rotation_6d(local)[:, 1:].reshape(len(features), -1)
    return out
