import math
from dataclasses import asdict

import numpy as np
import pytest
import torch

from models.checkpoint import CheckpointError, save_checkpoint
from models.vq.rvqvae import VQ_CONFIGS, RVQVAE, chain_attention_mask, create_rvqvae
from utils.features import joints_to_features
from utils.skeleton import ANIMO30, HUMANML22


def _inputs(model, B=3, T=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, T, model.spec.feature_dim, generator=g), torch.randn(B, model.config.cond_dim, generator=g)


@pytest.mark.parametrize("name", sorted(VQ_CONFIGS))
@pytest.mark.parametrize("skeleton", ["animo30", "humanml22"])
def test_every_registered_config_runs_forward_and_backward(name, skeleton):
    torch.manual_seed(0)
    model = create_rvqvae(name, skeleton=skeleton).train()
    x, cond = _inputs(model, B=2, T=16)
    out = model(x, cond)
    assert out["recon"].shape == x.shape
    assert out["codes"].shape == (2, 4, model.config.num_quantizers)
    loss = torch.nn.functional.smooth_l1_loss(out["recon"], x) + out["commit_loss"]
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad and p.grad is not None]
    assert torch.isfinite(loss) and grads and all(torch.isfinite(g).all() for g in grads)


def test_mixed_precision_keeps_the_output_layer_in_float32():
    torch.manual_seed(0)
    model = create_rvqvae("tiny", skeleton="animo30").train()
    x, cond = _inputs(model, B=2, T=16)
    seen = {}
    model.decoder.conv_mid.register_forward_hook(lambda m, i, o: seen.update(mid=o))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x, cond)
    assert seen["mid"].dtype == torch.bfloat16  # the decoder does run in bfloat16 ...
    assert out["recon"].dtype == torch.float32  # ... its output layer does not
    # the float32 output layer on the bfloat16 hidden state: exactly what the autocast forward gives
    ref = model.decoder.conv_out(torch.relu(seen["mid"]).float()).transpose(1, 2)
    assert torch.allclose(out["recon"], ref, atol=1e-6)
    out["recon"].abs().sum().backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(1)
    model = create_rvqvae("tiny", skeleton="animo30")
    for p in model.parameters():  # FiLM starts as the identity; make the condition matter
        torch.nn.init.normal_(p, std=0.1) if p.ndim > 1 else None
    torch.nn.init.normal_(model.body_proj.weight, std=0.01)  # random features give bodies of a few units
    return model.eval()


def test_decode_of_encode_is_the_forward_output(tiny):
    x, cond = _inputs(tiny, T=48)
    with torch.no_grad():
        recon = tiny(x, cond)["recon"]
    assert torch.equal(tiny.decode(tiny.encode(x, cond), cond, body=tiny.body_of(x)), recon)


def test_padding_does_not_leak(tiny):
    x, cond = _inputs(tiny, B=3, T=48)
    lengths = [48, 20, 32]
    mask = torch.arange(48)[None] < torch.tensor(lengths)[:, None]
    x = x * mask[..., None]
    codes = tiny.encode(x, cond, mask)
    body = tiny.body_of(x, mask)
    recon = tiny.decode(codes, cond, mask=mask, body=body)
    for b, n in enumerate(lengths):
        alone = tiny.encode(x[b:b + 1, :n], cond[b:b + 1])
        assert torch.equal(codes[b:b + 1, : n // 4], alone)
        assert (codes[b, n // 4:] == -1).all()
        body_alone = tiny.body_of(x[b:b + 1, :n])
        assert torch.allclose(body[b:b + 1], body_alone, atol=1e-6)
        assert torch.allclose(recon[b, :n], tiny.decode(alone, cond[b:b + 1], body=body_alone)[0], rtol=1e-5,
                              atol=1e-5)
        assert (recon[b, n:] == 0).all()


def test_the_condition_changes_the_output(tiny):
    x, cond = _inputs(tiny, T=16)
    codes = tiny.encode(x, cond)
    assert not torch.allclose(tiny.decode(codes, cond), tiny.decode(codes, cond.flip(0)))


def test_body_is_the_clips_bone_lengths_and_conditions_the_decoder(tiny):
    # a walk of the rest pose scaled by 1.1: every bone is 1.1x its rest length
    T = 16
    joints = np.repeat(ANIMO30.rest_pose()[None] * 1.1, T, 0)
    joints[:, :, 0] += np.linspace(0, 0.3, T)[:, None]
    x = tiny.normalize(torch.from_numpy(joints_to_features(joints, ANIMO30)[0][: T - 4]).float())[None]
    body = tiny.body_of(x)
    assert body.shape == (1, ANIMO30.num_joints - 1)
    assert torch.allclose(body, torch.full_like(body, math.log(1.1)), atol=1e-4)
    codes = tiny.encode(x, torch.zeros(1, tiny.config.cond_dim))
    cond = torch.randn(1, tiny.config.cond_dim)
    known, unknown = tiny.decode(codes, cond, body=body), tiny.decode(codes, cond)
    assert not torch.allclose(known, unknown) and not torch.allclose(known, tiny.decode(codes, cond, body=body * 0.5))
    with pytest.raises(ValueError, match=r"body must be \(1, 29\) log bone lengths"):
        tiny.decode(codes, cond, body=body[:, :5])
    old = create_rvqvae("tiny", skeleton="animo30", body_condition=False).eval()
    assert old.body_of(x) is None
    with pytest.raises(ValueError, match="trained without the body condition"):
        old.decode(codes, cond, body=body)


def test_fewer_layers_give_a_coarser_reconstruction(tiny):
    x, cond = _inputs(tiny, T=16)
    codes = tiny.encode(x, cond)
    one = tiny.decode(codes, cond, num_layers=1)
    assert one.shape == x.shape and not torch.allclose(one, tiny.decode(codes, cond))


def test_bad_input_is_explained(tiny):
    x, cond = _inputs(tiny, T=16)
    with pytest.raises(ValueError, match=r"\(B, T, 359\) for skeleton 'animo30', got \(3, 16, 263\)"):
        tiny.encode(x[..., :263], cond)
    with pytest.raises(ValueError, match="positive multiples of 4 frames, got 18"):
        tiny.encode(torch.cat([x, x[:, :2]], 1), cond)
    with pytest.raises(ValueError, match=r"codes must lie in \[0, 32\)"):
        tiny.decode(torch.full((1, 4, 3), 40), cond[:1])
    with pytest.raises(ValueError, match="codes have 2 layers, this tokenizer has 3"):
        tiny.decode(torch.zeros(1, 4, 2, dtype=torch.long), cond[:1])
    with pytest.raises(ValueError, match="unknown tokenizer config 'huge'"):
        create_rvqvae("huge")


def test_checkpoint_round_trip_and_corruption(tiny, tmp_path):
    path = tmp_path / "vq.safetensors"
    tiny.save(path)
    back = RVQVAE.load(path)
    assert back.config == tiny.config and back.spec.same_layout(ANIMO30)
    x, cond = _inputs(tiny, T=16)
    assert torch.equal(back.encode(x, cond), tiny.encode(x, cond))
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "flipped.safetensors").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="flipped.safetensors: weights do not match their checksum"):
        RVQVAE.load(tmp_path / "flipped.safetensors")
    # keep_identical leaves a whole file with the same content alone, but rewrites one whose weights are corrupt
    same = (tiny.checkpoint_kind, asdict(tiny.config), tiny.state_dict())
    assert not save_checkpoint(path, *same, keep_identical=True)
    assert save_checkpoint(tmp_path / "flipped.safetensors", *same, keep_identical=True)
    assert RVQVAE.load(tmp_path / "flipped.safetensors").config == tiny.config
    (tmp_path / "cut.safetensors").write_bytes(path.read_bytes()[: len(data) // 2])
    with pytest.raises(CheckpointError, match="cut.safetensors: not a readable safetensors checkpoint"):
        RVQVAE.load(tmp_path / "cut.safetensors")
    with pytest.raises(CheckpointError, match="does not exist"):
        RVQVAE.load(tmp_path / "none.safetensors")


def test_chain_mask_links_joints_of_one_chain_only():
    m = chain_attention_mask(HUMANML22)
    names = HUMANML22.joint_names
    assert m[names.index("left_foot"), names.index("pelvis")]
    assert not m[names.index("left_foot"), names.index("right_wrist")]
    assert m.diagonal().all() and torch.equal(m, m.T)
