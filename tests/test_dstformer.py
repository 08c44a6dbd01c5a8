import pytest
import torch
import torch.nn.functional as F

from models.dstformer import DST_CONFIGS, DSTformer, create_dstformer
from models.layers import BF16_MIN_SEQUENCE_HEADS, attention


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


def kernels_run(fn) -> set[str]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key for e in prof.key_averages() if "attention" in e.key}


@pytest.mark.parametrize("tokens, width, kernel", [(17, 16, "math"), (43, 8, "math"), (96, 16, "flash"),
                                                   (17, 64, "flash")])
def test_attention_picks_the_kernel_and_agrees_with_the_default(tokens, width, kernel):
    torch.manual_seed(0)
    q, k, v = (torch.randn(6, 2, tokens, width, requires_grad=True) for _ in range(3))
    mask = torch.ones(6, 1, 1, tokens, dtype=torch.bool)
    mask[1, ..., tokens // 2:] = False  # padded keys
    mask[2] = False  # a sequence with no real key gives zeros on both kernels
    out = attention(q, k, v, mask)
    grads = torch.autograd.grad(out.square().sum(), (q, k, v))
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref_grads = torch.autograd.grad(ref.square().sum(), (q, k, v))
    assert torch.allclose(out, ref, atol=1e-5)
    assert all(torch.allclose(g, r, atol=1e-4) for g, r in zip(grads, ref_grads))
    assert torch.equal(out[2], torch.zeros_like(out[2]))
    ran = kernels_run(lambda: attention(q, k, v, mask))
    flash = any("flash" in name for name in ran)
    assert flash == (kernel == "flash"), ran


@pytest.mark.parametrize("heads", [BF16_MIN_SEQUENCE_HEADS // 4, BF16_MIN_SEQUENCE_HEADS // 8])
def test_bf16_inference_attention_agrees_with_float32_and_keeps_empty_rows_zero(heads):
    torch.manual_seed(0)
    q, k, v = (torch.randn(4, heads, 52, 64) for _ in range(3))
    mask = torch.ones(4, 1, 1, 52, dtype=torch.bool)
    mask[1, ..., 30:] = False  # padded keys
    mask[2] = False  # no real key at all
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    with torch.no_grad():
        out = attention(*(t.bfloat16() for t in (q, k, v)), mask)
        ran = kernels_run(lambda: attention(*(t.bfloat16() for t in (q, k, v)), mask))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out).all()
    assert (out.float() - ref).abs().max() < 0.05 and (out.float() - ref).abs().mean() < 0.005
    assert torch.equal(out[2], torch.zeros_like(out[2]))
    # 16 sequence-heads and more take the matmul path; fewer, torch's flash kernel
    assert any("flash" in name for name in ran) == (4 * heads < BF16_MIN_SEQUENCE_HEADS), ran
