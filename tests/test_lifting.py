import json

import numpy as np
import pytest
import torch

from conftest import random_motion
from eval.lifting import accel_error, mpjpe, p_mpjpe
from models.lifter import Lifter, LifterConfig
from utils.keypoints import KeypointError, clean_keypoints, normalize_keypoints, read_keypoints
from utils.lifting import (Corruption, LiftingDataset, body_normalize, lift_sequence, lifting_pair,
                           window_starts)
from utils.skeleton import H36M17, HUMANML22, HUMANML22_TO_H36M17


def _coco_frame(rng, score=True):
    kp = np.concatenate([rng.uniform(100, 500, (17, 2)), rng.uniform(0.3, 1, (17, 1))], 1)
    return kp if score else kp[:, :2]


def test_reads_the_json_forms_detectors_write(tmp_path):
    rng = np.random.default_rng(0)
    a, b, c = _coco_frame(rng), _coco_frame(rng), _coco_frame(rng)
    weak = a.copy()
    weak[:, 2] = 0.05
    frames = [
        {"keypoints": a.flatten().tolist()},  # flat 51 numbers
        [{"keypoints": weak.tolist()}, {"keypoints": b.tolist()}],  # two people: the confident one wins
        {"keypoints": c[:, :2].tolist(), "keypoint_scores": c[:, 2].tolist()},  # MMPose style
        [],  # no detection
    ]
    (tmp_path / "k.json").write_text(json.dumps(frames))
    kp = read_keypoints(tmp_path / "k.json")
    assert kp.shape == (4, 17, 3)
    assert np.allclose(kp[0], a) and np.allclose(kp[1], b) and np.allclose(kp[2], c)
    assert np.isnan(kp[3]).all()
    (tmp_path / "m.json").write_text(json.dumps({"instance_info": [{"frame_id": 1, "instances": [
        {"keypoints": a[:, :2].tolist(), "keypoint_scores": a[:, 2].tolist()}]}]}))
    assert np.allclose(read_keypoints(tmp_path / "m.json")[0], a)


def test_keypoint_errors_and_documented_behaviour(tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(KeypointError, match="bad.json: malformed JSON"):
        read_keypoints(tmp_path / "bad.json")
    (tmp_path / "empty.json").write_text("[]")
    with pytest.raises(KeypointError, match="empty.json: holds no frames"):
        read_keypoints(tmp_path / "empty.json")
    (tmp_path / "short.json").write_text(json.dumps([{"keypoints": [1, 2, 3]}]))
    with pytest.raises(KeypointError, match="short.json frame 0: expected 17 COCO keypoints"):
        read_keypoints(tmp_path / "short.json")
    with pytest.raises(KeypointError, match="does not exist"):
        read_keypoints(tmp_path / "none.json")
    with pytest.raises(KeypointError, match="18 joints per frame, the model takes 17"):
        clean_keypoints(np.zeros((5, 18, 3)), 17)
    kp = np.random.default_rng(0).uniform(0, 100, (6, 17, 2))
    kp[2, 4] = np.nan
    with pytest.warns(UserWarning, match="no confidence score; assuming 1"):
        clean = clean_keypoints(kp, 17)
    assert clean[2, 4].tolist() == [0.0, 0.0, 0.0] and (clean[0, :, 2] == 1).all()
    with pytest.raises(KeypointError, match="image size must be positive, got 0 x 480"):
        normalize_keypoints(clean, (0, 480))
    norm, how = normalize_keypoints(clean)
    seen = norm[..., 2] > 0
    assert np.abs(norm[..., :2][seen]).max() <= 1.0 + 1e-9 and (norm[2, 4] == 0).all()


def test_lifting_pairs_are_consistent():
    joints = random_motion(HUMANML22, T=50, seed=0)
    rng = np.random.default_rng(0)
    x, y, unit = lifting_pair(joints, HUMANML22_TO_H36M17, rng, Corruption(0, 0, 0, 0), False, H36M17, HUMANML22)
    assert x.shape == (50, 17, 3) and y.shape == (50, 22, 3) and (x[..., 2] == 1).all()
    assert np.allclose(y[:, 0], 0)  # root-relative
    # bone lengths in metres survive the normalisation: the target is a rigid copy of the clip
    bones = lambda j: np.linalg.norm(j[:, 1:] - j[:, list(HUMANML22.parents[1:])], axis=-1)  # noqa: E731
    assert np.allclose(bones(y) * unit, bones(joints), atol=1e-4)
    xs, _, _ = lifting_pair(joints, HUMANML22_TO_H36M17, np.random.default_rng(1), Corruption(), True, H36M17,
                            HUMANML22)
    assert (xs[..., 2] < 1).any() and ((xs[..., 2] == 0) == (xs[..., :2] == 0).all(-1)).all()
    # a clip that runs 12 m never passes the camera, whatever the draw: the 2D stays on the body's scale
    run = joints + np.linspace(0, 12, 50)[:, None, None] * np.array([0.0, 0.0, 1.0])
    for seed in range(20):
        xr, yr, _ = lifting_pair(run, HUMANML22_TO_H36M17, np.random.default_rng(seed), Corruption(0, 0, 0, 0),
                                 False, H36M17, HUMANML22)
        assert np.abs(xr[..., :2]).max() < 3 and np.abs(yr).max() < 3


def test_body_normalisation_takes_out_travel_and_image_scale():
    rng = np.random.default_rng(0)
    pose = rng.uniform(-0.5, 0.5, (1, 17, 2))
    walk = pose + np.linspace(0, 6, 30)[:, None, None] * np.array([1.0, 0.0])  # crosses the picture
    seen = np.ones((30, 17), bool)
    seen[4] = False  # a frame without a detection takes its neighbours' centre
    uv, scale = body_normalize(walk, seen)
    assert scale == pytest.approx(np.ptp(pose[0], axis=0).max() / 2)
    assert np.allclose(uv[seen.any(1)], uv[0])  # every seen frame is the same body at the same place
    small, s2 = body_normalize(0.1 * walk + 3.0, seen)  # seen smaller and elsewhere in the image
    assert np.allclose(small, uv) and s2 == pytest.approx(0.1 * scale)
    assert body_normalize(walk, np.zeros((30, 17), bool))[1] == 1.0


def test_windows_are_lifted_as_training_windows_whatever_the_input_scale():
    torch.manual_seed(0)
    model = Lifter(LifterConfig(input_skeleton="h36m17", output_skeleton="h36m17", backbone="mlp", window=16,
                                mlp_hidden=32)).eval()
    x = torch.rand(40, 17, 3, dtype=torch.float64) * 2 - 1
    x[..., 2] = 1.0
    small = x.clone()
    small[..., :2] = 0.2 * x[..., :2] + 0.5  # the same keypoints seen smaller and off-centre (e.g. by the image)
    model = model.double()
    a, b = lift_sequence(model, x, 16, 4), lift_sequence(model, small, 16, 4)
    assert torch.allclose(b, 0.2 * a, atol=1e-9)  # the same pose, in the input's own units
    # one window covering everything equals the model on the body-normalised input, scaled back
    uv, s = body_normalize(small[:16, :, :2].numpy(), np.ones((16, 17), bool))
    ref = model.predict(torch.cat([torch.from_numpy(uv), small[:16, :, 2:]], -1)[None])[0] * s
    assert torch.allclose(lift_sequence(model, small[:16], 16, 4), ref, atol=1e-9)
    # a body of one size travelling across the picture: every window sees the same scale, so a per-frame model's
    # windows agree where they overlap and the blend equals one pass over the whole body-normalised sequence
    assert window_starts(40, 16, 4) == [0, 12, 24]
    travel = x[:1].repeat(40, 1, 1)
    travel[..., 0] += torch.linspace(0, 5, 40, dtype=torch.float64)[:, None]
    uv, s = body_normalize(travel[..., :2].numpy(), np.ones((40, 17), bool))
    ref = model.predict(torch.cat([torch.from_numpy(uv), travel[..., 2:]], -1)[None])[0] * s
    assert torch.allclose(lift_sequence(model, travel, 16, 4), ref, atol=1e-9)
    assert torch.allclose(lift_sequence(model, travel, 16), lift_sequence(model, travel, 16, 4))  # default: 16 / 4


class _SameBodyLifter:
    """Answers one fixed pose (in body units) for every frame, as a lifter does for a body that only moves away."""

    def __init__(self, pose: torch.Tensor):
        self.pose = pose

    def predict(self, x: torch.Tensor, frame_mask=None, flip: bool = True) -> torch.Tensor:
        return self.pose.to(x).expand(*x.shape[:2], *self.pose.shape)


def test_a_body_walking_away_keeps_its_size_across_windows():
    rng = np.random.default_rng(0)
    pose = torch.from_numpy(rng.normal(size=(17, 3)))
    body = torch.from_numpy(rng.uniform(-1, 1, (17, 2)))
    shrink = torch.linspace(1.0, 0.4, 40, dtype=torch.float64)[:, None, None]  # seen ever smaller in the picture
    x = torch.cat([body * shrink, torch.ones(40, 17, 1, dtype=torch.float64)], -1)
    x[5, 3, 2] = 0.0  # a missed keypoint does not count towards the body's size
    x[5, 3, :2] = 50.0
    out = lift_sequence(_SameBodyLifter(pose), x, 16, 4, flip=False)
    _, scale = body_normalize(x[..., :2].numpy(), x[..., 2].numpy() > 0)
    # every window answers in body units and all are scaled back by the whole sequence's body size: the same pose
    # at the same size from the first frame to the last (scaled by each window's own size, it shrank to ~half)
    assert np.isclose(scale, float(np.median(shrink)) * (body.max(0).values - body.min(0).values).max().item() / 2)
    assert torch.allclose(out, pose * scale, atol=1e-9)


@pytest.mark.parametrize("inp, out", [("h36m17", "humanml22"), ("animo30", "animo30")])
def test_flip_test_averages_the_mirrored_view_so_a_mirrored_input_gives_the_mirrored_pose(inp, out):
    torch.manual_seed(0)
    model = Lifter(LifterConfig(input_skeleton=inp, output_skeleton=out, backbone="tiny", window=12)).eval()
    torch.nn.init.normal_(model.backbone.pos_embed)  # joints told apart, so left and right are not alike
    x = torch.randn(2, 12, model.input_spec.num_joints, 3)
    sign = torch.tensor([-1.0, 1.0, 1.0])
    mirrored_x = x[:, :, model.input_spec.mirror_permutation] * sign
    with torch.no_grad():
        plain, flipped = model.predict(x, flip=False), model.predict(x)
        assert torch.equal(plain, model(x))
        mirror_of = model(mirrored_x)[:, :, model.output_spec.mirror_permutation] * sign
        assert torch.allclose(flipped, (plain + mirror_of) / 2, atol=1e-6)
        assert not torch.allclose(plain, mirror_of, atol=1e-3)  # the model alone is not mirror-symmetric ...
        # ... the flip-averaged one is: the mirrored input gives exactly the mirrored pose, root still at the origin
        again = model.predict(mirrored_x)[:, :, model.output_spec.mirror_permutation] * sign
        assert torch.allclose(again, flipped, atol=1e-6)
        assert torch.equal(flipped[..., 0, :], torch.zeros_like(flipped[..., 0, :]))
        mask = torch.ones(2, 12, dtype=torch.bool)
        mask[1, 8:] = False  # padded frames: both views see the same mask
        both = model.predict(x, mask)
        one_by_one = (model(x, mask) + model(mirrored_x, mask)[:, :, model.output_spec.mirror_permutation] * sign) / 2
        assert torch.allclose(both, one_by_one, atol=1e-6)


def test_lifter_to_another_skeleton_and_dataset_shapes():
    model = Lifter(LifterConfig(input_skeleton="h36m17", output_skeleton="humanml22", backbone="tiny", window=20))
    y = model(torch.randn(2, 20, 17, 3))
    assert y.shape == (2, 20, 22, 3) and torch.allclose(y[..., 0, :], torch.zeros(2, 20, 3))
    ds = LiftingDataset([random_motion(HUMANML22, T=T, seed=T) for T in (12, 30)], H36M17, HUMANML22,
                        HUMANML22_TO_H36M17, window=20)
    item = ds[(0, 5)]
    assert item["input"].shape == (20, 17, 3) and item["mask"].sum() == 12
    assert torch.equal(ds[(1, 5)]["input"], ds[(1, 5)]["input"])


@pytest.mark.parametrize("backbone", ["tiny", "mlp"])
def test_mixed_precision_keeps_the_regression_in_float32(backbone):
    torch.manual_seed(0)
    model = Lifter(LifterConfig(input_skeleton="h36m17", output_skeleton="humanml22", backbone=backbone, window=8,
                                mlp_hidden=32))
    x = torch.randn(2, 8, 17, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        rep = model.backbone.representation(x)
        y = model(x)
    assert rep.dtype == torch.bfloat16  # the backbone does run in bfloat16 ...
    assert y.dtype == torch.float32  # ... the head (and the joint map) do not
    # the float32 head on the bfloat16 representation: exactly what the autocast forward gives
    ref = model.backbone.head(rep.float())
    if model.joint_map is not None:
        ref = torch.einsum("oi,btic->btoc", model.joint_map, ref)
    assert y.shape == (2, 8, 22, 3)
    assert torch.allclose(y, ref - ref[..., :1, :], atol=1e-6)
    y.abs().sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_metrics_by_hand():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(10, 17, 3))
    assert np.allclose(mpjpe(gt + [0.0, 0.0, 2.0], gt), 2.0)
    rot = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]])
    assert np.allclose(p_mpjpe(3 * gt @ rot.T + 5, gt), 0, atol=1e-9)  # similarity-aligned away
    lin = np.arange(10)[:, None, None] * np.ones((10, 17, 3))
    assert np.allclose(accel_error(lin, np.zeros_like(lin)), 0)  # constant velocity has no acceleration
