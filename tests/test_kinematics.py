import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from conftest import random_motion
from utils.kinematics import (forward_kinematics, inverse_kinematics, kabsch_rotation, rotation_6d, rotation_from_6d,
                              swing_rotation)
from utils.skeleton import ANIMO30, H36M17, HUMANML22

SPECS = [ANIMO30, HUMANML22, H36M17]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_fk_of_identity_is_the_rest_pose(spec):
    T = 3
    local = np.broadcast_to(np.eye(3), (T, spec.num_joints, 3, 3))
    pos = forward_kinematics(spec, local, np.tile(spec.offsets[0], (T, 1)))
    assert np.allclose(pos, spec.rest_pose()[None], atol=1e-12)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("seed", range(8))
def test_ik_then_fk_reproduces_positions_with_the_clips_own_bones(spec, seed):
    joints = random_motion(spec, T=90, seed=seed)
    local, offsets = inverse_kinematics(spec, joints)
    back = forward_kinematics(spec, local, joints[:, 0], offsets)
    assert np.abs(back - joints).max() < 1e-3
    # the recovered bone lengths are the clip's own, not the spec's
    true_len = np.linalg.norm(joints[0, 1:] - joints[0, list(spec.parents[1:])], axis=-1)
    assert np.allclose(np.linalg.norm(offsets[1:], axis=-1), true_len, atol=1e-6)
    # rotations are proper and continuous: no 6D flips between frames
    assert np.allclose(np.linalg.det(local), 1.0, atol=1e-6)
    d6 = rotation_6d(local)
    assert np.abs(np.diff(d6, axis=0)).max() < 0.5
    step = np.einsum("tjik,tjil->tjkl", local[:-1], local[1:])  # R_t^T R_t+1
    angle = np.arccos(np.clip((np.trace(step, axis1=-2, axis2=-1) - 1) / 2, -1, 1))
    assert angle.max() < 0.5  # a flip would be a jump near pi


def test_6d_round_trip_numpy_and_torch():
    R = Rotation.random(50, random_state=1).as_matrix()
    assert np.allclose(rotation_from_6d(rotation_6d(R)), R, atol=1e-10)
    Rt = rotation_from_6d(torch.as_tensor(rotation_6d(R)))
    assert isinstance(Rt, torch.Tensor) and torch.allclose(Rt, torch.as_tensor(R), atol=1e-10)


def test_swing_and_kabsch():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(100, 3)), rng.normal(size=(100, 3))
    v[0] = -u[0] * 2.0  # exactly opposite: the half-turn branch
    R = swing_rotation(u, v)
    out = np.einsum("nij,nj->ni", R, u)
    assert np.allclose(out / np.linalg.norm(out, axis=-1, keepdims=True),
                       v / np.linalg.norm(v, axis=-1, keepdims=True), atol=1e-9)
    assert np.allclose(np.linalg.det(R), 1.0)
    true = Rotation.random(10, random_state=2).as_matrix()
    pts = rng.normal(size=(10, 4, 3))
    assert np.allclose(kabsch_rotation(pts, np.einsum("nij,nkj->nki", true, pts)), true, atol=1e-9)


def test_ik_rejects_the_wrong_joint_count():
    with pytest.raises(ValueError, match=r"\(T, 22, 3\) for skeleton 'humanml22'"):
        inverse_kinematics(HUMANML22, np.zeros((10, 30, 3)))


@pytest.mark.parametrize("spec", [HUMANML22, ANIMO30], ids=lambda s: s.name)
def test_tracking_ik_keeps_bone_length_errors_from_adding_up(spec):
    joints = random_motion(spec, T=60, seed=3)
    rigid = [forward_kinematics(spec, *_fk_args(spec, joints, track)) for track in (False, True)]
    assert np.abs(rigid[0] - joints).max() < 1e-6 and np.abs(rigid[1] - joints).max() < 1e-6  # rigid: both exact
    rng = np.random.default_rng(0)
    stretched = joints.copy()  # each bone's length wobbles over time by up to ~15%, as decoded motion does
    for j in range(1, spec.num_joints):
        p = spec.parents[j]
        scale = 1 + 0.15 * np.sin(rng.uniform(0.1, 0.5) * np.arange(60) + rng.uniform(0, 6))[:, None]
        bone = joints[:, j] - joints[:, p]
        stretched[:, j] = stretched[:, p] + bone * scale
    errors = []
    for track in (False, True):
        fitted = forward_kinematics(spec, *_fk_args(spec, stretched, track))
        errors.append(np.linalg.norm(fitted - stretched, axis=-1).mean())
    assert errors[1] < 0.8 * errors[0]


def _fk_args(spec, joints, track):
    local, offsets = inverse_kinematics(spec, joints, track=track)
    return local, joints[:, 0], offsets
