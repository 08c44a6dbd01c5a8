import numpy as np
import pytest
import torch

from conftest import random_motion
from utils.features import (body_frame_joints, canonicalize, facing_angle, fit_to_skeleton, foot_contacts,
                            joints_to_features, recover_joints)
from utils.kinematics import estimate_offsets, yaw_rotate
from utils.skeleton import ANIMO30, H36M17, HUMANML22

SPECS = [ANIMO30, HUMANML22]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("seed", range(12))
def test_joints_features_joints_round_trip(spec, seed):
    joints = random_motion(spec, T=int(np.random.default_rng(seed).integers(40, 200)), seed=seed)
    feats, canon = joints_to_features(joints, spec)
    assert feats.dtype == np.float32 and feats.shape == (len(joints) - 1, spec.feature_dim)
    back = recover_joints(feats, spec)
    assert np.abs(back - canon[:-1]).max() < 1e-4


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_round_trip_while_spinning_through_180_degrees(spec):
    joints = random_motion(spec, T=196, seed=3, turn_rate=0.25)  # ~8 full turns
    feats, canon = joints_to_features(joints, spec)
    assert np.abs(recover_joints(feats, spec) - canon[:-1]).max() < 1e-4
    # the stored yaw velocity is half the true turn per frame, whatever the heading
    assert np.allclose(np.abs(feats[:, 0]).mean(), 0.125, atol=0.03)


def test_canonical_frame():
    joints = random_motion(HUMANML22, T=60, seed=5)
    canon = canonicalize(joints, HUMANML22)
    assert abs(canon[..., 1].min()) < 1e-9
    assert np.allclose(canon[0, 0, [0, 2]], 0, atol=1e-9)
    assert abs(facing_angle(canon[0], HUMANML22)) < 1e-9


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_features_ignore_where_and_which_way_the_clip_starts(spec):
    joints = random_motion(spec, T=80, seed=7)
    moved = yaw_rotate(joints, 2.1) + np.array([4.0, 0.5, -7.0])
    a, _ = joints_to_features(joints, spec)
    b, _ = joints_to_features(moved, spec)
    assert np.abs(a - b).max() < 1e-4


def test_torch_recovery_is_batched_differentiable_and_matches_numpy():
    feats = np.stack([joints_to_features(random_motion(ANIMO30, T=50, seed=s), ANIMO30)[0] for s in range(3)])
    x = torch.tensor(feats, requires_grad=True)
    joints = recover_joints(x, ANIMO30)
    assert joints.shape == (3, 49, 30, 3)
    assert torch.allclose(joints.detach().float(), torch.from_numpy(recover_joints(feats, ANIMO30)), atol=1e-5)
    joints.square().sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_slices_mean_what_they_say():
    joints = random_motion(HUMANML22, T=60, seed=11)
    feats, canon = joints_to_features(joints, HUMANML22)
    s = HUMANML22.slices
    assert np.allclose(feats[:, s.root_height][:, 0], canon[:-1, 0, 1], atol=1e-6)
    ric = feats[:, s.ric].reshape(-1, 21, 3)
    assert np.allclose(ric[:, :, 1], canon[:-1, 1:, 1], atol=1e-5)  # heights are not turned
    vel = feats[:, s.vel].reshape(-1, 22, 3)
    speed = np.linalg.norm(canon[1:] - canon[:-1], axis=-1)
    assert np.allclose(np.linalg.norm(vel, axis=-1), speed, atol=1e-5)  # turned, not scaled
    assert set(np.unique(feats[:, s.contacts])) <= {0.0, 1.0}


def test_contacts_follow_the_feet():
    spec = H36M17
    T = 40
    joints = np.tile(spec.rest_pose(), (T, 1, 1))
    l_ankle, r_ankle = spec.foot_joints
    # the right foot lifts and swings forward in the second half; the left stays planted
    joints[T // 2:, r_ankle, 1] += np.linspace(0, 0.2, T - T // 2)
    joints[T // 2:, r_ankle, 2] += np.linspace(0, 0.6, T - T // 2)
    c = foot_contacts(joints, spec)
    assert c[:, 0].all()
    assert c[: T // 2 - 1, 1].all() and not c[T // 2 + 2:, 1].any()


def test_bad_joints_are_explained():
    with pytest.raises(ValueError, match=r"\(T, 30, 3\) for skeleton 'animo30', got \(10, 22, 3\)"):
        joints_to_features(np.zeros((10, 22, 3)), ANIMO30)
    bad = random_motion(HUMANML22, T=20, seed=0)
    bad[5, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        joints_to_features(bad, HUMANML22)
    with pytest.raises(ValueError, match="at least 2 frames"):
        joints_to_features(bad[:1], HUMANML22)
    with pytest.raises(ValueError, match="263"):
        recover_joints(np.zeros((5, 359)), HUMANML22)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_body_frame_joints_are_the_joints_without_the_trajectory(spec):
    feats, canon = joints_to_features(random_motion(spec, T=60, seed=3), spec)
    body = body_frame_joints(feats, spec)  # (T, J, 3), numpy in -> numpy out
    assert body.shape == (len(feats), spec.num_joints, 3) and body.dtype == feats.dtype
    # each frame's joints, moved so the root is over the origin and turned to face +Z
    local = canon[:-1].astype(np.float64).copy()
    local[..., [0, 2]] -= canon[:-1, :1, [0, 2]]
    local = yaw_rotate(local, -facing_angle(canon[:-1], spec)[:, None])
    assert np.abs(body - local).max() < 1e-4
    batched = body_frame_joints(torch.from_numpy(np.stack([feats, feats])), spec)  # torch in -> torch out
    assert isinstance(batched, torch.Tensor) and torch.equal(batched[1], torch.from_numpy(body))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_fitting_to_the_clips_skeleton_gives_the_bones_back(spec):
    feats, canon = joints_to_features(random_motion(spec, T=80, seed=5), spec)
    offsets = estimate_offsets(spec, canon)
    # a rigid clip's own features are on its skeleton already: positions and rotations stay
    assert np.abs(fit_to_skeleton(feats, spec, offsets) - feats).max() < 1e-4
    # decoded-like features: every joint 2 cm off in each axis, so the bones stretch and shrink from frame to frame
    s = spec.slices
    noisy = feats.copy()
    noisy[:, s.ric] += np.random.default_rng(0).normal(0, 0.02, noisy[:, s.ric].shape).astype(np.float32)
    fitted = fit_to_skeleton(noisy, spec, offsets)
    joints = recover_joints(fitted, spec)
    bones = np.linalg.norm(joints[:, 1:] - joints[:, list(spec.parents[1:])], axis=-1)  # (T, J-1)
    assert np.allclose(bones, np.linalg.norm(offsets[1:], axis=-1), atol=1e-5)
    error = lambda f: np.linalg.norm(recover_joints(f, spec) - canon[:-1], axis=-1).mean()  # noqa: E731
    # the noise along each bone is gone (a third of it); the part across the bones stays
    assert error(fitted) < 0.9 * error(noisy)
    # the rotations are those of the fitted positions: the same features come back from the fitted joints
    refit = fit_to_skeleton(fitted, spec, offsets)
    assert np.abs(refit - fitted).max() < 1e-4
    kept = np.r_[np.arange(s.root.start, s.root.stop), np.arange(s.vel.start, spec.feature_dim)]
    assert np.array_equal(fitted[:, kept], noisy[:, kept])  # root, velocities and contacts are the decoder's
    with pytest.raises(ValueError, match=rf"offsets must be the clip's finite \({spec.num_joints}, 3\) rest offsets"):
        fit_to_skeleton(feats, spec, offsets[1:])
    with pytest.raises(ValueError, match=rf"needs \(T, {spec.feature_dim}\)"):
        fit_to_skeleton(feats[:, 1:], spec, offsets)
