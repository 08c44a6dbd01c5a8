
import numpy as np
import pytest
import torch

from utils.skeleton import (ANIMO30, COCO17_NAMES, H36M17, HUMANML22, SKELETONS, SkeletonSpec, coco17_to_h36m17,
                            get_skeleton, humanml22_to_h36m17, skeleton_for_feature_dim,
                            skeleton_for_joint_count)


def test_feature_widths_come_from_one_formula():
    assert ANIMO30.num_joints == 30 and ANIMO30.feature_dim == 359 == 12 * 30 - 1
    assert HUMANML22.num_joints == 22 and HUMANML22.feature_dim == 263 == 12 * 22 - 1
    assert H36M17.num_joints == 17


@pytest.mark.parametrize("spec", SKELETONS.values(), ids=lambda s: s.name)
def test_slices_tile_the_feature_vector(spec):
    s = spec.slices
    parts = [s.root_rot_vel, s.root_lin_vel, s.root_height, s.ric, s.rot, s.vel, s.contacts]
    assert parts[0].start == 0 and parts[-1].stop == spec.feature_dim == s.dim
    for a, b in zip(parts[:-1], parts[1:]):
        assert a.stop == b.start
    assert s.contacts.stop - s.contacts.start == spec.num_feet
    # every dim except the contacts belongs to exactly one joint
    owned = np.concatenate([spec.joint_feature_index(j) for j in range(spec.num_joints)])
    assert len(owned) == len(set(owned.tolist())) == spec.feature_dim - spec.num_feet
    assert set(owned.tolist()) | set(range(s.contacts.start, s.contacts.stop)) == set(range(spec.feature_dim))


@pytest.mark.parametrize("spec", SKELETONS.values(), ids=lambda s: s.name)
def test_mirror_swaps_left_and_right(spec):
    perm = spec.mirror_permutation
    assert (perm[perm] == np.arange(spec.num_joints)).all()
    assert len(spec.mirror_pairs) > 0
    rest = spec.rest_pose()
    for a, b in spec.mirror_pairs:
        assert rest[a, 0] > 0 > rest[b, 0], (spec.joint_names[a], spec.joint_names[b])  # left is +X
        assert np.allclose(rest[a] * [-1, 1, 1], rest[b], atol=1e-6)
    # mirror: numpy and torch alike, the input untouched, extra channels kept, twice is the identity
    pts = np.random.default_rng(0).normal(size=(2, 5, spec.num_joints, 4))
    m = spec.mirror(pts)
    assert np.allclose(m[..., perm, 0], -pts[..., 0]) and np.allclose(m[..., perm, 1:], pts[..., 1:])
    assert np.array_equal(spec.mirror(m), pts)
    t = torch.from_numpy(pts)
    assert torch.equal(spec.mirror(t), torch.from_numpy(m)) and torch.equal(t, torch.from_numpy(pts))


@pytest.mark.parametrize("spec", SKELETONS.values(), ids=lambda s: s.name)
def test_rest_pose_stands_on_the_ground_facing_z(spec):
    rest = spec.rest_pose()
    assert rest[:, 1].min() > -1e-6 and rest[list(spec.foot_joints), 1].min() < 0.1
    r_hip, l_hip, r_sh, l_sh = spec.face_joints
    assert rest[l_hip, 0] > rest[r_hip, 0] and rest[l_sh, 0] > rest[r_sh, 0]
    for chain in spec.chains:
        assert all(spec.parents[b] == a for a, b in zip(chain[:-1], chain[1:]))


def test_animo30_has_the_parts_animo_names():
    names = " ".join(ANIMO30.joint_names)
    for part in ("root", "spine", "neck", "head", "jaw", "eye", "tail", "lf_", "rf_", "lh_", "rh_"):
        assert part in names
    assert len(ANIMO30.foot_joints) == 4


@pytest.mark.parametrize("spec", SKELETONS.values(), ids=lambda s: s.name)
def test_spec_json_round_trip(spec, tmp_path):
    spec.save(tmp_path / "s.json")
    back = get_skeleton(tmp_path / "s.json")
    assert back.to_dict() == spec.to_dict() and back.same_layout(spec)


def test_bad_specs_and_names_are_explained(tmp_path):
    with pytest.raises(ValueError, match="parents must come before children"):
        SkeletonSpec("bad", ("a", "b", "c"), (-1, 2, 0), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="joint names"):
        SkeletonSpec("bad", ("a", "b"), (-1, 0, 0), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown skeleton 'smplx'.*animo30"):
        get_skeleton("smplx")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match="broken.json: not a valid skeleton spec"):
        get_skeleton(tmp_path / "broken.json")
    with pytest.raises(ValueError, match="251-dim.*give the skeleton explicitly"):
        skeleton_for_feature_dim(251)
    assert skeleton_for_feature_dim(263) is HUMANML22 and skeleton_for_feature_dim(359) is ANIMO30
    assert [skeleton_for_joint_count(n) for n in (22, 30, 17)] == [HUMANML22, ANIMO30, H36M17]
    with pytest.raises(ValueError, match="no single built-in skeleton has 5 joints"):
        skeleton_for_joint_count(5)


def test_coco17_to_h36m17():
    rng = np.random.default_rng(0)
    kp = np.concatenate([rng.uniform(0, 640, (5, 17, 2)), rng.uniform(0.2, 1, (5, 17, 1))], -1)
    h = coco17_to_h36m17(kp)
    assert h.shape == (5, 17, 3)
    c = {n: i for i, n in enumerate(COCO17_NAMES)}
    hn = {n: i for i, n in enumerate(H36M17.joint_names)}
    assert np.allclose(h[:, hn["pelvis"], :2], (kp[:, c["l_hip"], :2] + kp[:, c["r_hip"], :2]) / 2)
    assert np.allclose(h[:, hn["r_wrist"]], kp[:, c["r_wrist"]])
    assert np.allclose(h[:, hn["pelvis"], 2], np.minimum(kp[:, c["l_hip"], 2], kp[:, c["r_hip"], 2]))
    assert coco17_to_h36m17(kp[..., :2]).shape == (5, 17, 2)
    with pytest.raises(ValueError, match=r"\(\.\.\., 17, 2\)"):
        coco17_to_h36m17(np.zeros((5, 18, 3)))


def test_humanml22_to_h36m17_gives_a_human_skeleton():
    h = humanml22_to_h36m17(HUMANML22.rest_pose())
    bones = np.linalg.norm(h[1:] - h[list(H36M17.parents[1:])], axis=-1)
    assert (bones > 0.04).all() and (bones < 0.6).all()
    hn = {n: i for i, n in enumerate(H36M17.joint_names)}
    assert h[hn["head"], 1] > h[hn["nose"], 1] - 0.05 > h[hn["thorax"], 1] > h[hn["spine"], 1] > h[hn["pelvis"], 1]
    assert h[hn["l_wrist"], 0] > 0 > h[hn["r_wrist"], 0]
