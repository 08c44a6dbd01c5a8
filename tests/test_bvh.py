import re

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from conftest import random_motion
from motion_to_bvh import main
from utils.bvh import ROTATION_ORDER, bvh_to_joints, continuous_euler, read_bvh, write_bvh
from utils.features import joints_to_features, recover_joints
from utils.skeleton import ANIMO30, HUMANML22

SPECS = [HUMANML22, ANIMO30]


def frame_values(path) -> np.ndarray:
    """(T, C) the channel values of a BVH file, read without the module under test."""
    lines = path.read_text().splitlines()
    start = lines.index("MOTION") + 3
    return np.array([[float(v) for v in ln.split()] for ln in lines[start:] if ln.strip()])


def rotation_columns(path) -> np.ndarray:
    """Indices of the rotation channels among a file's columns."""
    names = [c for ln in path.read_text().splitlines() if ln.strip().startswith("CHANNELS")
             for c in ln.split()[2:]]
    return np.array([i for i, c in enumerate(names) if c.endswith("rotation")])


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("turn_rate", [None, 0.1, -0.1], ids=["random", "spin_left", "spin_right"])
def test_round_trip_is_exact_and_euler_angles_are_continuous(spec, turn_rate, tmp_path):
    joints = random_motion(spec, T=120, seed=3, turn_rate=turn_rate)
    path = write_bvh(tmp_path / "m.bvh", joints, spec)
    back = bvh_to_joints(path, spec)
    assert back.shape == joints.shape
    assert np.abs(back - joints).max() < 1e-3
    rot = frame_values(path)[:, rotation_columns(path)]
    assert np.abs(np.diff(rot, axis=0)).max() < 30.0  # no 360-degree wraps, no equivalent-triple flips
    if turn_rate is not None:  # the body turns round almost twice: its yaw channel keeps growing
        root_yaw = rot[:, ROTATION_ORDER.index("Y")]
        assert np.ptp(root_yaw) > 360.0


def test_continuous_euler_follows_the_twin_triple_over_the_top():
    T = 60
    angles = np.stack([np.linspace(-3.0, 3.0, T), np.linspace(1.0, 2.5, T), np.linspace(2.0, -2.0, T)], -1)
    R = Rotation.from_euler(ROTATION_ORDER, angles).as_matrix()[:, None]  # (T, 1, 3, 3)
    # past b = 90 degrees scipy switches to the twin (a + pi, pi - b, c + pi); we keep the original path
    assert np.allclose(continuous_euler(R)[:, 0], angles, atol=1e-6)


@pytest.mark.parametrize("b", [np.pi / 2, -np.pi / 2])
def test_continuous_euler_at_gimbal_lock_is_smooth_and_exact(b):
    T = 60
    angles = np.stack([np.linspace(-3.0, 3.0, T), np.full(T, b), np.linspace(2.0, -2.0, T)], -1)
    R = Rotation.from_euler(ROTATION_ORDER, angles).as_matrix()[:, None]
    e = continuous_euler(R)
    assert np.abs(np.diff(e, axis=0)).max() < 0.3  # only a +- c is known there; both change a little per frame
    assert np.abs(Rotation.from_euler(ROTATION_ORDER, e[:, 0]).as_matrix() - R[:, 0]).max() < 1e-6


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_file_structure(spec, tmp_path):
    T, fps = 7, 30.0
    path = write_bvh(tmp_path / "m.bvh", random_motion(spec, T=T, seed=1), spec, fps=fps)
    text = path.read_text()
    names = re.findall(r"^\s*(?:ROOT|JOINT)\s+(\S+)\s*$", text, flags=re.M)
    assert len(names) == spec.num_joints
    assert sorted(names) == sorted(spec.joint_names)
    assert names[0] == spec.joint_names[0] and text.count("ROOT") == 1
    counts = [int(n) for n in re.findall(r"CHANNELS\s+(\d+)", text)]
    assert counts == [6] + [3] * (spec.num_joints - 1)
    assert "CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation" in text
    assert re.search(r"^Frames:\s+(\d+)$", text, flags=re.M)[1] == str(T)
    assert float(re.search(r"^Frame Time:\s+(\S+)$", text, flags=re.M)[1]) == pytest.approx(1 / fps)
    leaves = [j for j in range(spec.num_joints) if not spec.children(j)]
    assert text.count("End Site") == len(leaves)
    values = frame_values(path)
    assert values.shape == (T, 6 + 3 * (spec.num_joints - 1))
    motion = read_bvh(path)
    assert motion.fps == pytest.approx(fps) and motion.num_frames == T


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_rest_pose_writes_zero_rotations_and_the_spec_offsets(spec, tmp_path):
    rest = np.repeat(spec.rest_pose()[None], 4, axis=0)
    path = write_bvh(tmp_path / "rest.bvh", rest, spec)
    assert np.abs(frame_values(path)[:, rotation_columns(path)]).max() < 1e-6
    motion = read_bvh(path, scale=1.0)  # the file's numbers as written
    order = [motion.joint_names.index(n) for n in spec.joint_names]
    assert np.allclose(motion.offsets[order], spec.offsets * 100, atol=1e-5)
    assert np.allclose(bvh_to_joints(path, spec), rest, atol=1e-6)
    # every End Site is non-zero and continues its leaf's bone
    site = [np.array(m.groups(), dtype=float)
            for m in re.finditer(r"End Site\s*\{\s*OFFSET\s+(\S+)\s+(\S+)\s+(\S+)", path.read_text())]
    leaves = [n for n in motion.joint_names if not spec.children(spec.joint_names.index(n))]
    for name, tip in zip(leaves, site):
        bone = spec.offsets[spec.joint_names.index(name)]
        assert np.linalg.norm(tip) > 0.5
        assert np.dot(tip, bone) / (np.linalg.norm(tip) * np.linalg.norm(bone)) > 0.999


TINY = """HIERARCHY
ROOT hips
{
  OFFSET 0 100 0
  CHANNELS 6 Xposition Yposition Zposition Xrotation Yrotation Zrotation
  JOINT knee
  {
    OFFSET 0 -50 0
    CHANNELS 3 Xrotation Yrotation Zrotation
    JOINT foot
    {
      OFFSET 0 0 20
      CHANNELS 3 Xrotation Yrotation Zrotation
      End Site
      {
        OFFSET 0 0 5
      }
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.04
10 100 -20 0 0 0 0 0 0 0 0 0
0 90 0 0 0 90 90 90 0 0 0 45
"""


def test_hand_written_bvh_parses_to_hand_computed_positions(tmp_path):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY)
    motion = read_bvh(path)
    assert motion.joint_names == ("hips", "knee", "foot") and motion.parents == (-1, 0, 1)
    assert motion.fps == pytest.approx(25.0)
    expected = np.array([
        # frame 0: no rotation; the hips at (10, 100, -20) cm, the knee 50 cm below, the foot 20 cm ahead
        [[0.1, 1.0, -0.2], [0.1, 0.5, -0.2], [0.1, 0.5, 0.0]],
        # frame 1: hips turned 90 degrees about Z swing the shin (0, -0.5, 0) to (0.5, 0, 0); the knee's
        # Rx(90) Ry(90) takes the foot bone +Z to +X (Ry first: X-then-Y order means R = Rx @ Ry), then the
        # hips' Rz(90) to +Y
        [[0.0, 0.9, 0.0], [0.5, 0.9, 0.0], [0.5, 1.1, 0.0]],
    ])
    assert np.allclose(motion.joints, expected, atol=1e-9)
    assert np.allclose(bvh_to_joints(path), expected, atol=1e-9)


def test_position_channels_on_a_joint_replace_its_offset(tmp_path):
    knee = "CHANNELS 3 Xrotation Yrotation Zrotation\n    JOINT foot"
    text = TINY.replace(knee, knee.replace("3 Xrotation Yrotation Zrotation",
                                           "6 Zrotation Xposition Yposition Zposition Xrotation Yrotation"))
    lines = text.splitlines()
    # the knee 30 cm below the hips (not 50), then 50 cm below and turned by Rz(90) @ Rx(90), which takes +Z to +X
    lines[-2] = "10 100 -20 0 0 0  0 0 -30 0 0 0  0 0 0"
    lines[-1] = "0 90 0 0 0 0  90 0 -50 0 90 0  0 0 0"
    path = tmp_path / "six.bvh"
    path.write_text("\n".join(lines) + "\n")
    motion = read_bvh(path)
    assert motion.translations is not None
    assert np.allclose(motion.joints[0], [[0.1, 1.0, -0.2], [0.1, 0.7, -0.2], [0.1, 0.7, 0.0]], atol=1e-9)
    assert np.allclose(motion.joints[1], [[0.0, 0.9, 0.0], [0.0, 0.4, 0.0], [0.2, 0.4, 0.0]], atol=1e-9)


@pytest.mark.parametrize("edit, message", [
    (lambda s: s[:s.index("MOTION")], "no MOTION section"),
    (lambda s: s.replace("Frames: 2", "Frames: 3"), "declares 3 frames"),
    (lambda s: s.replace(" 0 0 0 45\n", " 0 0 45\n"), r"line 25: frame 1 has 11 values .* 12 channels"),
    (lambda s: s.replace("Xrotation Yrotation Zrotation\n      End", "Xrotation Wrotation Zrotation\n      End"),
     r"line 13: unknown channel 'Wrotation' of joint 'foot'"),
    (lambda s: s.replace("OFFSET 0 -50 0", "OFFSET 0 -50"), r"line 9: expected a number in the OFFSET"),
    (lambda s: s.replace("Frame Time: 0.04", "Frame Time: fast"), "not a valid Frame Time"),
    (lambda s: s.replace("0 90 0 0 0 90", "0 90 0 0 0 ninety"), "line 25: frame 1 holds a value that is not"),
    (lambda s: s.replace("}\nMOTION", "MOTION"), "HIERARCHY ends where"),
])
def test_malformed_files_raise_a_clear_error(tmp_path, edit, message):
    path = tmp_path / "bad.bvh"
    path.write_text(edit(TINY))
    with pytest.raises(ValueError, match=message) as info:
        read_bvh(path)
    assert str(path) in str(info.value)


def test_bvh_to_joints_names_the_joints_a_spec_misses(tmp_path):
    path = tmp_path / "tiny.bvh"
    path.write_text(TINY)
    with pytest.raises(ValueError, match=r"lacks joints \['pelvis', 'left_hip'"):
        bvh_to_joints(path, HUMANML22)


def test_joints_come_back_in_the_spec_order(tmp_path):
    spec = HUMANML22
    joints = random_motion(spec, T=10, seed=5)
    path = write_bvh(tmp_path / "m.bvh", joints, spec)
    motion = read_bvh(path)
    assert motion.joint_names != spec.joint_names  # the file is depth first
    order = [spec.joint_names.index(n) for n in motion.joint_names]
    assert np.abs(bvh_to_joints(path) - joints[:, order]).max() < 1e-3


def test_cli_round_trip(tmp_path, capsys):
    spec = HUMANML22
    joints = random_motion(spec, T=40, seed=2, turn_rate=0.1).astype(np.float32)
    np.save(tmp_path / "joints.npy", joints)
    main([str(tmp_path / "joints.npy"), "--skeleton", "humanml22", "--out", str(tmp_path / "m.bvh")])
    main(["--to-joints", str(tmp_path / "m.bvh"), "--skeleton", "humanml22", "--out", str(tmp_path / "back.npy")])
    assert np.abs(np.load(tmp_path / "back.npy") - joints).max() < 1e-3
    assert "wrote" in capsys.readouterr().out

    # features: the skeleton comes from the width
    feats, _ = joints_to_features(joints, spec)
    np.save(tmp_path / "features.npy", feats)
    main([str(tmp_path / "features.npy")])
    expected = recover_joints(feats, spec)
    assert np.abs(bvh_to_joints(tmp_path / "features.bvh", spec) - expected).max() < 1e-3


@pytest.mark.parametrize("argv, message", [
    (["missing.npy"], "missing.npy: file does not exist"),
    (["--to-joints", "missing.bvh"], "missing.bvh does not exist"),
    (["wide.npy"], r"wide.npy: no built-in skeleton has 7-dim features"),
    (["wide.npy", "--skeleton", "animo30"], r"wide.npy holds 7-dim features but skeleton 'animo30' needs"),
    ([], "give either"),
])
def test_cli_errors_name_the_input(tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "wide.npy", np.zeros((5, 7), dtype=np.float32))
    with pytest.raises(SystemExit, match=message) as info:
        main(argv)
    assert str(info.value).startswith("error: ")
