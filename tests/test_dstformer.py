import pytest
import torch

from models.dstformer import DST_CONFIGS, DSTformer, create_dstformer


@pytest.mark.parametrize("name", sorted(DST_CONFIGS))
def test_every_config_runs_forward_and_backward(name):
    torch.manual_seed(0)
    model = create_dstformer(name, num_joints=17, dim_in=3).train()
    x = torch.randn(1, 9, 17, 3)
    y = model(x)
    assert y.shape == (1, 9, 17, 3)
    y.square().mean().backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_parameter_counts_match_motionbert():
    full = sum(p.numel() for p in create_dstformer("full").parameters())
    lite = sum(p.numel() for p in create_dstformer("lite").parameters())
    assert 38e6 < full < 46e6  # MotionBERT reports ~42M
    assert 12e6 < lite < 20e6  # and ~16M for the lite model


def test_generic_in_joints_and_channels_and_masked_frames_do_not_leak():
    torch.manual_seed(0)
    model = create_dstformer("tiny", num_joints=30, dim_in=2).eval()
    x = torch.randn(2, 12, 30, 2)
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False
    with torch.no_grad():
        batch = model(x, mask)
        alone = model(x[1:, :7])
    assert torch.allclose(batch[1, :7], alone[0], atol=1e-5)


def test_bad_input_and_checkpoint(tmp_path):
    model = create_dstformer("tiny")
    with pytest.raises(ValueError, match=r"takes \(B, T, 17, 3\) inputs, got \(1, 5, 22, 3\)"):
        model(torch.randn(1, 5, 22, 3))
    with pytest.raises(ValueError, match="300 frames is longer than maxlen 243"):
        model(torch.randn(1, 300, 17, 3))
    model.save(tmp_path / "m.safetensors", extra={"skeleton": "h36m17"})
    back = DSTformer.load(tmp_path / "m.safetensors")
    assert back.checkpoint_extra == {"skeleton": "h36m17"} and back.config == model.config
