"""Text to motion: the schedule, the transformers, generation, editing, the trainers and the commands."""
from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch

from conftest import random_motion
from models.checkpoint import weights_digest
from models.mask_transformer.backbone import encode_condition
from models.mask_transformer.body_estimator import BodyEstimatorConfig, fit_body_estimator
from models.mask_transformer.length_estimator import LengthEstimatorConfig, fit_length_estimator
from models.mask_transformer.mask_transformer import T2M_CONFIGS, MaskTransformer, MaskTransformerConfig, \
    transformer_config
from models.mask_transformer.pipeline import GUIDANCE, RES_GUIDANCE, STEPS, TEMPERATURE, T2MPipeline, check_precision
from models.mask_transformer.residual_transformer import ResidualTransformer, ResidualTransformerConfig
from models.mask_transformer.scheduler import CosineMaskSchedule
from models.text_encoder import caption_vocabulary, load_text_encoder
from models.vq.rvqvae import create_rvqvae
from utils.codes import CodeDataset, collate_codes, encode_items
from utils.dataset import Caption, ClipRecord, MotionFolder, write_dataset
from utils.features import joints_to_features, recover_joints
from utils.skeleton import HUMANML22

MAX_TOKENS = 12


def _tokenizer(seed=0):
    torch.manual_seed(seed)
    return create_rvqvae("tiny", skeleton="humanml22").eval()


def _models(tok, size="tiny", **over):
    common = dict(num_tokens=tok.config.codebook_size, num_quantizers=tok.config.num_quantizers,
                  max_tokens=MAX_TOKENS, skeleton="humanml22", tokenizer_sha256=weights_digest(tok), **over)
    torch.manual_seed(1)
    return (MaskTransformer(transformer_config(MaskTransformerConfig, size, **common)),
            ResidualTransformer(transformer_config(ResidualTransformerConfig, size, **common)))


@pytest.fixture(scope="module")
def tok():
    return _tokenizer()


@pytest.fixture(scope="module")
def pipe(tok):
    mask, res = _models(tok, text_words=16)  # both read the words (the trainers' default is the masked one only)
    return T2MPipeline(tok, mask, res, device="cpu")


# ---- schedule ---------------------------------------------------------------------------------------------------
def test_masking_counts_follow_the_cosine_schedule():
    s = CosineMaskSchedule()
    lengths = torch.arange(1, 50)
    for t in np.linspace(0, 1, 11):
        want = np.clip(np.round(np.cos(np.pi * t / 2) * lengths.numpy()), 1, lengths.numpy())
        assert np.array_equal(s.num_masked(float(t), lengths).numpy(), want)
    assert torch.equal(s.num_masked(0.0, lengths), lengths)  # decoding starts from all-[MASK]
    assert (s.num_masked(1.0, lengths) == 1).all()  # and ends re-predicting one token
    ts = s.timesteps(10)
    assert ts[0] == 0 and ts[-1] == 1 and len(ts) == 10
    counts = torch.stack([s.num_masked(float(t), lengths) for t in ts])
    assert (counts[1:] <= counts[:-1]).all()
    with pytest.raises(ValueError, match="at least 1"):
        s.timesteps(0)


def test_training_masks_a_schedule_share_and_corrupts_like_bert(tok, monkeypatch):
    mask, _ = _models(tok)
    mask.train()
    seen = {}
    real_forward = MaskTransformer.forward

    def spy(self, ids, cond, valid, drop=None):
        seen["ids"], seen["drop"] = ids.clone(), drop
        return real_forward(self, ids, cond, valid, drop)

    monkeypatch.setattr(MaskTransformer, "forward", spy)
    B, N = 4000, 10
    codes = torch.randint(0, 32, (B, N))
    codes[:, 8:] = -1  # 8 real tokens per sample
    cond = {"text": torch.randn(B, 384), "species": torch.randn(B, 384), "gender": torch.randn(B, 384)}
    torch.manual_seed(0)
    mask.loss(codes, cond)
    ids = seen["ids"]
    assert (ids[:, 8:] == mask.pad_id).all()
    masked = (ids[:, :8] == mask.mask_id).sum(1).float()
    # E[cos(pi t / 2)] over t ~ U(0, 1) = 2 / pi of the tokens are chosen, ~0.9 * 0.88 of those get [MASK]
    assert masked.mean() / 8 == pytest.approx(2 / math.pi * 0.9 * 0.88, abs=0.02)
    changed = (ids[:, :8] != codes[:, :8]) & (ids[:, :8] != mask.mask_id)
    assert 0.02 < changed.float().mean() < 0.08  # the random-token share (10% of the chosen, minus hits)
    assert seen["drop"].float().mean() == pytest.approx(0.1, abs=0.02)  # condition dropout for CFG


# ---- models ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size", sorted(T2M_CONFIGS))
def test_every_registered_config_trains_a_few_steps_without_nan(tok, size):
    for model in _models(tok, size):
        model.train()
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        B = 3
        cond = {"text": torch.randn(B, 384), "species": torch.randn(B, 384), "gender": torch.randn(B, 384)}
        codes = torch.randint(0, 32, (B, MAX_TOKENS, 3))
        codes[0, 7:] = -1
        for _ in range(3):
            loss, logs = model.loss(codes, cond) if isinstance(model, ResidualTransformer) \
                else model.loss(codes[..., 0], cond)
            opt.zero_grad()
            loss.backward()
            assert torch.isfinite(loss)
            assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
            opt.step()


def test_padding_does_not_leak_into_the_logits(tok):
    mask, res = _models(tok)
    cond = {"text": torch.randn(1, 384), "species": torch.randn(1, 384), "gender": torch.randn(1, 384)}
    ids = torch.randint(0, 32, (1, 6))
    alone = mask(ids, cond, torch.ones(1, 6, dtype=torch.bool))
    padded = torch.cat([ids, torch.randint(0, 34, (1, 4))], 1)
    valid = torch.arange(10)[None] < 6
    assert torch.allclose(mask(padded, cond, valid)[:, :6], alone, atol=1e-5)


def test_word_features_condition_the_logits_and_go_with_the_condition(tok):
    mask, _ = _models(tok, text_words=6)
    mask.eval()
    enc = load_text_encoder("minilm")
    texts = ["a dog turns left", "a dog turns right", "a dog walks forward slowly and then lies down"]
    with pytest.warns(UserWarning, match="the model reads the first 6 of their words"):
        cond = encode_condition(mask.config, enc, texts, ["dog"] * 3, ["male"] * 3, words=enc.words)
    assert cond["words"].shape == (3, 6, 384) and cond["words_mask"].sum(1).tolist() == [6, 6, 6]
    ids = torch.randint(0, 32, (3, 8))
    valid = torch.ones(3, 8, dtype=torch.bool)
    logits = mask(ids, cond, valid)
    # the words speak: the same sentence embedding with another text's words gives other logits
    swapped = {**cond, "words": cond["words"][[1, 0, 2]]}
    assert not torch.allclose(mask(ids, swapped, valid)[0], logits[0], atol=1e-4)
    # a dropped sample sees neither the condition tokens nor the words
    drop = torch.tensor([True, False, True])
    assert torch.allclose(mask(ids, swapped, valid, drop)[0], mask(ids, cond, valid, drop)[0], atol=1e-6)
    # a short text's words padded by a longer batch-mate give the logits it gets alone
    both = encode_condition(mask.config, enc, ["a cat", texts[0]], ["dog"] * 2, ["male"] * 2, words=enc.words)
    one = encode_condition(mask.config, enc, ["a cat"], ["dog"], ["male"], words=enc.words)  # 4 tokens of 6
    assert one["words"].shape[1] == 4 and both["words"].shape[1] == 6 and not both["words_mask"][0, 4:].any()
    assert torch.allclose(mask(ids[:1], one, valid[:1]), mask(ids[:2], both, valid[:2])[:1], atol=1e-5)
    with pytest.raises(ValueError, match="give encode_condition a words function"):
        encode_condition(mask.config, enc, texts, ["dog"] * 3, ["male"] * 3)
    with pytest.raises(ValueError, match="needs 'words'"):
        mask(ids[:1], {k: v for k, v in one.items() if not k.startswith("words")}, valid[:1])


@pytest.mark.parametrize("tie", [True, False])
def test_residual_logits_for_one_layer_equal_those_of_a_layer_per_sample(tok, tie):
    torch.manual_seed(2)
    res = ResidualTransformer(transformer_config(
        ResidualTransformerConfig, "tiny", num_tokens=tok.config.codebook_size,
        num_quantizers=tok.config.num_quantizers, max_tokens=MAX_TOKENS, tie_output=tie)).eval()
    cond = {"text": torch.randn(3, 384), "species": torch.randn(3, 384), "gender": torch.randn(3, 384)}
    codes, valid = torch.randint(0, 32, (3, 5, 3)), torch.ones(3, 5, dtype=torch.bool)
    one = res(codes, torch.tensor([2, 2, 2]), cond, valid)  # generation's path: one matmul for the batch
    each = res(codes, torch.tensor([2, 1, 2]), cond, valid)  # training's path: each sample's own table
    assert torch.allclose(one[[0, 2]], each[[0, 2]], atol=1e-6)
    assert torch.allclose(res(codes[1:2], torch.tensor([1]), cond={k: v[1:2] for k, v in cond.items()},
                              valid=valid[1:2]), each[1:2], atol=1e-6)


def test_code_embeddings_start_from_the_tokenizer_codebooks(tok):
    mask, res = _models(tok)
    books = tok.quantizer.codebooks  # (Q, K, code_dim)
    codes = torch.randint(0, tok.config.codebook_size, (2, 5, tok.config.num_quantizers))
    res.init_code_embeddings(books)
    mask.init_code_embeddings(books)
    assert torch.equal(mask.token_emb.weight[: tok.config.codebook_size], books[0])
    # the sum of the embeddings below layer j is the tokenizer's latent from its first j layers
    partial = tok.quantized_from_codes(codes, num_layers=2)
    assert torch.allclose(res.embed_below(codes, torch.tensor([2, 2])), partial, atol=1e-6)
    with pytest.raises(ValueError, match="code_dim must be the tokenizer's"):
        res.init_code_embeddings(books[..., :-1])
    with pytest.raises(ValueError, match="code_dim must be the tokenizer's"):
        mask.init_code_embeddings(books[..., :-1])


# ---- generation -------------------------------------------------------------------------------------------------
PROMPTS = (["a person walks forward", "someone jumps twice", "a child waves"], ["human"] * 3,
           ["male", "female", "juvenile"])


def test_generation_is_deterministic_for_a_seed(pipe):
    a = pipe.generate(*PROMPTS, lengths=[40, "1.5s", 24], seed=5)
    b = pipe.generate(*PROMPTS, lengths=[40, "1.5s", 24], seed=5)
    c = pipe.generate(*PROMPTS, lengths=[40, "1.5s", 24], seed=6)
    for x, y in zip(a, b):
        assert np.array_equal(x.codes, y.codes) and np.array_equal(x.features, y.features)
    assert any(not np.array_equal(x.codes, y.codes) for x, y in zip(a, c))
    assert [len(m.features) for m in a] == [40, 30, 24]  # 1.5 s at 20 fps
    assert a[1].joints.shape == (30, 22, 3) and a[1].codes.shape == (8, 3)


def test_batched_generation_equals_one_by_one(pipe):
    batch = pipe.generate(*PROMPTS, lengths=[40, 30, 24], seed=11)
    for k in range(3):
        one = pipe.generate([PROMPTS[0][k]], [PROMPTS[1][k]], [PROMPTS[2][k]], lengths=[[40, 30, 24][k]],
                            seed=11 + k)[0]
        assert np.array_equal(one.codes, batch[k].codes)
        np.testing.assert_allclose(one.features, batch[k].features, atol=1e-4)


def test_bf16_runs_bfloat16_copies_and_leaves_the_models_float32(pipe):
    a = pipe.generate(*PROMPTS, lengths=[40, 30, 24], seed=3, temperature=0, precision="bf16")
    b = pipe.generate(*PROMPTS, lengths=[40, 30, 24], seed=3, temperature=0, precision="bf16")
    full = pipe.generate(*PROMPTS, lengths=[40, 30, 24], seed=3, temperature=0)
    for x, y, z in zip(a, b, full):
        assert np.array_equal(x.codes, y.codes) and np.isfinite(x.joints).all()
        assert x.codes.shape == z.codes.shape and x.codes.min() >= 0
    for name in ("transformer", "residual", "text"):
        assert all(p.dtype == torch.bfloat16 for p in pipe._runnables[name, "bf16"].parameters())
        assert all(p.dtype == torch.float32 for p in getattr(pipe, name).parameters())
    # the tokenizer's bfloat16 copy keeps its output layer in float32; the tokenizer itself stays float32
    out_layer = {id(p) for p in pipe._runnables["tokenizer", "bf16"].decoder.conv_out.parameters()}
    assert all(p.dtype == (torch.float32 if id(p) in out_layer else torch.bfloat16)
               for p in pipe._runnables["tokenizer", "bf16"].parameters())
    assert all(p.dtype == torch.float32 for p in pipe.tokenizer.parameters())
    # same codes -> the same motion within bfloat16's rounding of the decoder
    codes, names = torch.from_numpy(a[0].codes)[None], ([a[0].species], [a[0].gender])
    np.testing.assert_allclose(pipe._decode(codes, *names, precision="bf16")[0, :40].numpy(),
                               pipe._decode(codes, *names)[0, :40].numpy(), atol=0.05, rtol=0.02)
    assert pipe.condition(*PROMPTS, precision="bf16")["text"].dtype == torch.float32
    assert all(e.dtype == torch.bfloat16 for e in pipe._runnables["text", "bf16"]._memo.values())


def test_int8_runs_int8_copies_of_the_blocks_close_to_float32(pipe):
    a = pipe.generate(*PROMPTS, lengths=[40, 30, 24], seed=3, precision="int8")
    b = pipe.generate(*PROMPTS, lengths=[40, 30, 24], seed=3, precision="int8")
    for x, y in zip(a, b):
        assert np.array_equal(x.codes, y.codes) and np.isfinite(x.joints).all() and x.codes.min() >= 0
    for name in ("transformer", "residual"):
        run, model = pipe._runnables[name, "int8"], getattr(pipe, name)
        kinds = {m._get_name() for m in run.backbone.blocks.modules()}  # the name torch prints for each layer
        assert "DynamicQuantizedLinear" in kinds and "Linear" not in kinds  # every linear layer of the blocks
        assert all(p.dtype == torch.float32 for p in model.parameters())  # the model itself is untouched
        assert all(type(m) is torch.nn.Linear for m in model.backbone.blocks.modules()
                   if isinstance(m, torch.nn.Linear))
    # the int8 masked transformer's logits stay close to float32's (here: random weights, a half-masked input)
    cond = pipe.condition(*PROMPTS)
    ids = torch.randint(0, pipe.transformer.config.num_tokens, (3, 10), generator=torch.Generator().manual_seed(0))
    ids[:, ::2] = pipe.transformer.mask_id
    valid = torch.ones(3, 10, dtype=torch.bool)
    with torch.no_grad():
        full = pipe.transformer.guided_logits(ids, cond, valid, 2.5)
        int8 = pipe._runnables["transformer", "int8"].guided_logits(ids, cond, valid, 2.5)
    err = (int8 - full).abs()
    assert 0 < err.max() < 0.1 * full.std()  # int8 products (not the float32 ones), 2.5x guided
    assert (int8.argmax(-1) == full.argmax(-1)).float().mean() >= 0.9


def test_precision_errors(pipe, tok):
    with pytest.raises(ValueError, match="unknown precision 'fp16'; choose one of fp32, bf16, int8"):
        pipe.generate(*PROMPTS, lengths=[40, 30, 24], precision="fp16")
    with pytest.raises(ValueError, match="int8 runs on a CPU only.*use bf16"):
        check_precision("int8", torch.device("cuda"))
    mask, res = _models(tok)
    compiled = T2MPipeline(tok, mask, res, device="cpu", compile=True)
    with pytest.raises(ValueError, match="int8 does not combine with compiling"):
        compiled.generate(*PROMPTS, lengths=[40, 30, 24], precision="int8")


def test_compiled_transformers_give_the_eager_logits_and_codes(tok, monkeypatch):
    mask, res = _models(tok)
    eager = T2MPipeline(tok, mask, res, device="cpu")
    compiled = T2MPipeline(tok, mask, res, device="cpu", compile=True)
    cond = eager.condition(*PROMPTS)
    ids = torch.randint(0, tok.config.codebook_size, (3, MAX_TOKENS))
    valid = torch.arange(MAX_TOKENS)[None] < torch.tensor([[10], [8], [6]])
    m, _ = compiled._runnable("transformer", cond, False)
    # a compiled copy; the loaded model stays eager
    assert m is not mask and "forward" in vars(m) and "forward" not in vars(mask)
    torch.testing.assert_close(m.guided_logits(ids, cond, valid, 2.5), mask.guided_logits(ids, cond, valid, 2.5),
                               atol=1e-4, rtol=1e-4)
    a = compiled.generate(*PROMPTS, lengths=[40, 30, 24], seed=3, temperature=0)
    b = eager.generate(*PROMPTS, lengths=[40, 30, 24], seed=3, temperature=0)
    for x, y in zip(a, b):
        assert np.array_equal(x.codes, y.codes)
        np.testing.assert_allclose(x.joints, y.joints, atol=1e-4)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ValueError, match=r"compile=True \(--compile\) needs a C\+\+ compiler"):
        T2MPipeline(tok, mask, res, device="cpu", compile=True)


def test_with_guidance_1_the_unconditional_branch_has_no_effect(tok):
    mask, res = _models(tok)
    p = T2MPipeline(tok, mask, res, device="cpu")
    before = p.generate(*PROMPTS, lengths=[40, 40, 40], seed=0, guidance=1.0, res_guidance=1.0)
    ids = torch.randint(0, 32, (3, 10))
    valid = torch.ones(3, 10, dtype=torch.bool)
    cond = p.condition(*PROMPTS)
    g4 = mask.guided_logits(ids, cond, valid, 4.0)
    with torch.no_grad():
        for m in (mask, res):
            m.backbone.cond.null.add_(torch.randn_like(m.backbone.cond.null))
    after = p.generate(*PROMPTS, lengths=[40, 40, 40], seed=0, guidance=1.0, res_guidance=1.0)
    for x, y in zip(before, after):
        assert np.array_equal(x.codes, y.codes)
    assert not torch.allclose(mask.guided_logits(ids, cond, valid, 4.0), g4)  # with guidance it matters
    assert torch.allclose(mask.guided_logits(ids, cond, valid, 1.0), mask(ids, cond, valid))


@pytest.mark.parametrize("what, distinct", [("all", 2), ("text", 3)])
def test_guidance_runs_the_unconditional_branch_once_per_distinct_row_with_the_same_logits(tok, what, distinct):
    mask, res = _models(tok, text_words=8, cond_drop=what)
    with torch.no_grad():  # "no condition" tokens unlike the zeros they start as, so that dropping shows
        for m in (mask, res):
            m.backbone.cond.null.normal_()
    p = T2MPipeline(tok, mask, res, device="cpu")
    texts, species, genders = ["a dog runs", "a cat sits", "a dog runs", "a horse walks back"], ["dog", "cat"] * 2, \
        ["male", "female"] * 2
    cond = p.condition(texts, species, genders)
    ids = torch.full((4, 10), mask.mask_id)
    ids[3, 2] = 5  # rows 0-2 are all-[MASK] (the first decoding step), row 3 differs
    valid = torch.ones(4, 10, dtype=torch.bool)
    seen = []
    forward = mask.forward

    def spy(*args, **kw):
        seen.append(args[0].shape[0])
        return forward(*args, **kw)
    mask.forward = spy
    with torch.no_grad():
        got = mask.guided_logits(ids, cond, valid, 3.0)
        layers = torch.full((4,), 2)
        codes = torch.randint(0, 32, (4, 10, tok.config.num_quantizers))
        codes[1] = codes[0]
        got_res = res.guided_logits(codes, 2, cond, valid, 3.0)
        with_cond, without = mask(ids, cond, valid), mask(ids, cond, valid, torch.ones(4, dtype=torch.bool))
        r_with, r_without = res(codes, layers, cond, valid), res(codes, layers, cond, valid, torch.ones(4, dtype=bool))
    del mask.forward
    # four conditional rows; rows 0-2 have one input, but only rows 0 and 2 also one performer (a male dog): two
    # distinct unconditional rows when that branch sees no performer, three when it sees the species and gender
    assert seen[0] == 4 + distinct
    # rows 0 and 1 (a male dog and a female cat, both all-[MASK]): one unconditional answer unless it sees them
    assert torch.allclose(without[0], without[1]) == (what == "all")
    torch.testing.assert_close(got, without + 3.0 * (with_cond - without), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(got_res, r_without + 3.0 * (r_with - r_without), atol=1e-5, rtol=1e-5)


def _train(model, batches, steps, lr=3e-3):
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    model.train()
    for step in range(steps):
        codes, cond = batches(step)
        loss, logs = model.loss(codes, cond) if isinstance(model, ResidualTransformer) \
            else model.loss(codes[..., 0], cond)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval()


def test_transformers_learn_codes_that_follow_the_text(tok):
    """Two texts, two code patterns (rising / falling base codes, residual layer j = base + j): after training,
    generation gives each text its own pattern."""
    mask, res = _models(tok, "tiny", dropout=0.0, layers=2)
    words = ["the codes rise", "the codes fall"]
    table = encode_condition(mask.config, load_text_encoder("minilm"), words, ["human"] * 2, ["male"] * 2)

    def pattern(k, n):
        base = torch.arange(n) if k == 0 else 31 - torch.arange(n)
        return torch.stack([(base + j) % 32 for j in range(3)], -1)  # (n, 3)

    def batches(step):
        g = torch.Generator().manual_seed(step)
        ks = torch.randint(0, 2, (16,), generator=g)
        ns = torch.randint(6, MAX_TOKENS + 1, (16,), generator=g)
        codes = torch.full((16, MAX_TOKENS, 3), -1)
        for i, (k, n) in enumerate(zip(ks.tolist(), ns.tolist())):
            codes[i, :n] = pattern(k, n)
        return codes, {key: v[ks] for key, v in table.items()}

    torch.manual_seed(0)
    _train(mask, batches, 400)
    _train(res, batches, 300)
    p = T2MPipeline(tok, mask, res, device="cpu")
    out = p.generate(words * 2, ["human"] * 4, ["male"] * 4, lengths=[40, 40, 48, 48], seed=0)
    for k, m in enumerate(out):
        want = pattern(k % 2, len(m.codes)).numpy()
        assert (m.codes == want).mean() > 0.9, (words[k % 2], m.codes[:, 0])


def test_length_estimator_learns_lengths_from_text_and_is_used(tok):
    text = load_text_encoder("minilm")
    captions = ["a short hop", "a long slow walk"]
    tokens = torch.tensor([4, 11] * 50)
    emb = text([captions[i % 2] for i in range(100)])
    names = text(["human"] * 100), text(["male"] * 100)
    cfg = LengthEstimatorConfig(min_tokens=2, max_tokens=MAX_TOKENS)
    est, logs = fit_length_estimator(cfg, (emb, *names), tokens, steps=300, val=((emb, *names), tokens))
    assert logs["val_mae_tokens"] < 0.5
    mask, res = _models(tok)
    p = T2MPipeline(tok, mask, res, length_estimator=est, device="cpu")
    out = p.generate(captions, ["human"] * 2, ["male"] * 2, seed=0)
    assert [len(m.features) for m in out] == [16, 44]
    assert p.min_frames == 8 and p.max_frames == 48


def test_body_estimator_learns_bodies_from_text_and_decoding_uses_them():
    tok = _tokenizer(seed=4)
    for p in tok.parameters():  # FiLM starts as the identity and the body projection as zero; make them matter
        torch.nn.init.normal_(p, std=0.05) if p.ndim > 1 else None
    text = load_text_encoder("minilm")
    captions = ["a big man walks", "a small man walks"]
    bodies = torch.tensor([0.1, -0.1] * 50)[:, None].expand(100, 21).contiguous()
    emb = text([captions[i % 2] for i in range(100)])
    names = text(["human"] * 100), text(["male"] * 100)
    est, logs = fit_body_estimator(BodyEstimatorConfig(body_dim=21), (emb, *names), bodies, steps=300,
                                   val=((emb, *names), bodies))
    assert logs["val_rms"] < 0.02 < logs["val_rms_of_the_mean"]
    mask, res = _models(tok)
    with_body = T2MPipeline(tok, mask, res, body_estimator=est, device="cpu")
    without = T2MPipeline(tok, mask, res, device="cpu")
    a = with_body.generate(captions, ["human"] * 2, ["male"] * 2, lengths=[24, 24], seed=0)
    b = without.generate(captions, ["human"] * 2, ["male"] * 2, lengths=[24, 24], seed=0)
    cond = text(["human male"] * 2)
    for k, sign in enumerate((1, -1)):
        assert np.array_equal(a[k].codes, b[k].codes)  # the body changes the decoding, not the codes
        predicted = est(*with_body._estimator_inputs(with_body.condition(captions, ["human"] * 2, ["male"] * 2),
                                                     ["human"] * 2, ["male"] * 2))[k:k + 1]
        assert torch.allclose(predicted, torch.full_like(predicted, 0.1 * sign), atol=0.03)
        want = tok.denormalize(tok.decode(torch.from_numpy(a[k].codes)[None], cond[k:k + 1], body=predicted))[0]
        assert np.allclose(a[k].features, want.numpy(), atol=1e-5)
        assert not np.allclose(a[k].features, b[k].features, atol=1e-3)
    with pytest.raises(ValueError, match="the body estimator gives 5 bone lengths; the tokenizer takes 21"):
        T2MPipeline(tok, mask, res, body_estimator=fit_body_estimator(BodyEstimatorConfig(body_dim=5), (
            emb, *names), bodies[:, :5], steps=1)[0], device="cpu")


# ---- editing ----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def source():
    return joints_to_features(random_motion(HUMANML22, T=49, seed=3, turn_rate=0.03), HUMANML22)[0]  # (48, 263)


@pytest.mark.parametrize("span", [(16, 32), (0, 16), (32, 48), (13, 30)])
def test_editing_keeps_the_frames_outside_the_span(pipe, source, span):
    a, b = span
    src_joints = recover_joints(source, HUMANML22)
    e = pipe.edit(source, "a person kicks", "human", "male", a, b, seed=1)
    kept = np.r_[0:max(0, a - 8), min(48, b + 8):48]
    assert np.array_equal(e.features[kept], source[kept])
    err_mm = 1000 * np.linalg.norm(e.joints[kept] - src_joints[kept], axis=-1).max()
    assert err_mm < 1.0
    inside = 1000 * np.linalg.norm(e.joints[a:b] - src_joints[a:b], axis=-1).max()
    assert inside > 10  # the span did change


def test_editing_with_pose_anchor_keeps_features_and_the_prefix(pipe, source):
    src_joints = recover_joints(source, HUMANML22)
    e = pipe.edit(source, "a person kicks", "human", "male", 16, 24, seed=1, anchor="pose", boundary=4)
    assert np.array_equal(e.features[:12], source[:12]) and np.array_equal(e.features[28:], source[28:])
    assert 1000 * np.abs(e.joints[:12] - src_joints[:12]).max() < 1.0


def test_edit_input_errors(pipe, source):
    with pytest.raises(ValueError, match="does not lie inside"):
        pipe.edit(source, "x", "human", "male", 40, 60)
    with pytest.raises(ValueError, match="boundary must be 0-8"):
        pipe.edit(source, "x", "human", "male", 4, 8, boundary=12)
    broken = np.array(source, dtype=np.float32)
    broken[3, 5] = np.nan
    with pytest.raises(ValueError, match="source features hold NaN or inf"):
        pipe.edit(broken, "x", "human", "male", 4, 8)
    with pytest.raises(ValueError, match=r"\(T, 263\)"):
        pipe.edit(source[:, :100], "x", "human", "male", 4, 8)


# ---- bad input ----------------------------------------------------------------------------------------------------
def test_unknown_species_for_a_closed_vocabulary_is_explained(tok):
    mask, res = _models(tok, species_vocab=["cat", "dog"], gender_vocab=["female", "male"])
    p = T2MPipeline(tok, mask, res, device="cpu")
    assert len(p.generate(["a cat walks"], ["cat"], ["male"], lengths=[16])) == 1
    with pytest.raises(ValueError, match=r"unknown species 'zebra'.*knows cat, dog.*open-vocabulary"):
        p.generate(["a zebra walks"], ["zebra"], ["male"], lengths=[16])


def test_open_vocabulary_reads_an_unseen_species_by_name(pipe):
    assert pipe.generate(["a zebra walks"], ["zebra"], ["female"], lengths=[16])[0].features.shape == (16, 263)


def test_length_guidance_and_text_errors(pipe):
    with pytest.raises(ValueError, match=r"outside this model's range 4-48 frames \(0.2-2.4 s at 20 fps\)"):
        pipe.generate(["a person walks"], ["human"], ["male"], lengths=[1000])
    with pytest.raises(ValueError, match=r"'2.5' is neither frames \(120\) nor seconds \(6s\)"):
        pipe.generate(["a person walks"], ["human"], ["male"], lengths=["2.5"])
    with pytest.raises(ValueError, match="guidance scale must be >= 0"):
        pipe.generate(["a person walks"], ["human"], ["male"], lengths=[16], guidance=-1)
    with pytest.raises(ValueError, match=r"temperature must be >= 0 \(0 = always the likeliest code\), got -0.5"):
        pipe.generate(["a person walks"], ["human"], ["male"], lengths=[16], temperature=-0.5)
    with pytest.raises(ValueError, match="empty"):
        pipe.generate([" "], ["human"], ["male"], lengths=[16])
    with pytest.raises(ValueError, match="no length estimator"):
        pipe.generate(["a person walks"], ["human"], ["male"])


def test_a_transformer_from_another_tokenizer_is_refused(tok):
    mask, res = _models(tok)
    with pytest.raises(ValueError, match="trained on the codes of another tokenizer"):
        T2MPipeline(_tokenizer(seed=5), mask, res, device="cpu")
    other = create_rvqvae("tiny", skeleton="humanml22", num_quantizers=2)
    with pytest.raises(ValueError, match="not a pair"):
        T2MPipeline(other, mask, None, device="cpu")


# ---- data, trainers and commands ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2m")
    words = ["a person walks around", "someone turns on the spot"]
    clips = [ClipRecord(f"c{i:02d}", random_motion(HUMANML22, T=41 + 4 * (i % 5), seed=i),
                        [Caption(words[i % 2]), Caption(words[i % 2] + " slowly")], species="human",
                        gender=("male", "female")[i % 2]) for i in range(24)]
    ids = [c.id for c in clips]
    write_dataset(root, clips, {"train": ids[:16], "val": ids[16:20], "test": ids[20:]}, HUMANML22)
    return root


def test_codes_are_cached_and_invalidated_by_a_new_tokenizer(folder, tmp_path, monkeypatch):
    tok = _tokenizer()
    items = MotionFolder(folder).load_split("train")
    first = encode_items(tok, items, (0, 2), cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 1
    assert all(len(c.codes) == 2 and c.codes[0].shape == (len(c.item.features) // 4, 3) for c in first)
    batch = collate_codes([CodeDataset(first, MAX_TOKENS)[(i, i)] for i in range(4)])
    assert batch["codes"].shape[2] == 3 and len(batch["caption"]) == 4

    def boom(*a, **k):
        raise AssertionError("encoded again")

    monkeypatch.setattr(type(tok), "encode", boom)
    again = encode_items(tok, items, (0, 2), cache_dir=tmp_path)
    assert all(np.array_equal(a.codes[1], b.codes[1]) for a, b in zip(first, again))
    monkeypatch.undo()
    with torch.no_grad():
        tok.decoder.conv_out.bias.add_(1.0)
    encode_items(tok, items, (0, 2), cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 2


def test_mirror_adds_a_mirrored_clip_with_swapped_captions_for_each_train_clip(folder, tmp_path):
    import argparse

    from utils.mirror import MIRROR_SUFFIX
    from utils.t2m_task import TransformerTask, add_t2m_args

    tok = _tokenizer()
    p = argparse.ArgumentParser()
    add_t2m_args(p, code_init="random", text_words=0, mirror=False)
    common = ["--data", str(folder), "--tokenizer", "unused", "--out", "unused", "--cache-dir", str(tmp_path)]
    plain, mirrored = (TransformerTask(_models(tok)[0], tok, MotionFolder(folder), p.parse_args(common + flag), False)
                       for flag in ([], ["--mirror"]))
    assert not plain.mirrored and len(mirrored.mirrored) == len(mirrored.train_items) == 16
    assert len(mirrored.dataset) == 2 * len(plain.dataset)  # every clip and its mirror image, at every offset
    assert all(m.clip_id == it.clip_id + MIRROR_SUFFIX for m, it in zip(mirrored.mirrored, mirrored.train_items))
    assert [it.key for it in mirrored.train_items] == [it.key for it in plain.train_items]  # the estimators' clips


def test_trainers_generate_and_edit_commands(folder, tmp_path, capsys):
    import edit_t2m
    import gen_t2m
    import train_res_transformer
    import train_t2m_transformer

    tok_path = tmp_path / "tok.safetensors"
    tok = _tokenizer()
    tok.save(tok_path)
    common = ["--data", str(folder), "--tokenizer", str(tok_path), "--config", "tiny", "--max-tokens", "12",
              "--max-steps", "8", "--batch-size", "4", "--val-every", "4", "--ckpt-every", "4", "--no-progress",
              "--cache-dir", str(tmp_path / "cache")]
    with pytest.raises(SystemExit, match=r"--text-words -1: give the number of word features"):
        train_t2m_transformer.main(common + ["--out", str(tmp_path / "bad"), "--text-words", "-1"])
    train_t2m_transformer.main(common + ["--out", str(tmp_path / "t2m"), "--cond-drop-what", "text"])
    train_res_transformer.main(common + ["--out", str(tmp_path / "res")])
    trained = MaskTransformer.load(tmp_path / "t2m" / "model.safetensors")
    assert trained.config.cond_drop == "text"  # its guided steps below push away from the performer's motion
    vocab = trained.checkpoint_extra["vocabulary"]  # the words of the train split's captions
    train_caps = [c.text for it in MotionFolder(folder).load_split("train") for c in it.captions]
    assert vocab == caption_vocabulary(train_caps) and "walks" in vocab
    metrics = (tmp_path / "t2m" / "metrics.csv").read_text()
    assert "val_token_acc" in metrics
    assert (tmp_path / "t2m" / "length_estimator.safetensors").is_file()
    models = ["--tokenizer", str(tok_path), "--transformer", str(tmp_path / "t2m" / "model.safetensors"),
              "--residual", str(tmp_path / "res" / "model.safetensors"),
              "--length-estimator", str(tmp_path / "t2m" / "length_estimator.safetensors"),
              "--body-estimator", str(tmp_path / "t2m" / "body_estimator.safetensors")]
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("human#female#a woman walks around\n# a comment\nsomeone turns on the spot\n")
    gen_t2m.main(["--text-file", str(prompts), "--species", "human", "--num-samples", "2", "--out",
                  str(tmp_path / "gen")] + models)
    outs = sorted((tmp_path / "gen").iterdir())
    assert len(outs) == 4
    meta = json.loads((outs[0] / "prompt.json").read_text())
    assert (meta["species"], meta["gender"], meta["seed"]) == ("human", "female", 0)
    # every sampling setting is kept with the motion, so that it can be made again
    assert {k: meta[k] for k in ("guidance", "res_guidance", "steps", "temperature", "precision")} == {
        "guidance": GUIDANCE, "res_guidance": RES_GUIDANCE, "steps": STEPS, "temperature": TEMPERATURE,
        "precision": "fp32"}
    # "woman" never occurs in the training captions: said once per prompt, and kept with the motion
    err = capsys.readouterr().err
    assert meta["unfamiliar_words"] == ["woman"] and err.count("'woman' never occur") == 1
    assert "someone turns" not in err and json.loads((outs[2] / "prompt.json").read_text())["unfamiliar_words"] == []
    joints = np.load(outs[0] / "joints.npy")
    assert joints.shape[1:] == (22, 3) and (outs[0] / "motion.mp4").stat().st_size > 1000
    assert np.load(outs[0] / "codes.npy").shape == (math.ceil(len(joints) / 4), 3)
    edit_t2m.main(["--source", str(outs[0]), "--suffix", "8", "--text", "she stops", "--no-video",
                   "--out", str(tmp_path / "edit")] + models)
    edited = np.load(tmp_path / "edit" / "features.npy")
    edit_meta = json.loads((tmp_path / "edit" / "prompt.json").read_text())
    assert edit_meta["unfamiliar_words"] == ["she", "stops"] and edit_meta["precision"] == "fp32"
    said = capsys.readouterr()
    assert "'she', 'stops' never occur" in said.err and "regenerated" in said.out
    src = np.load(outs[0] / "features.npy")
    assert edited.shape == src.shape and np.array_equal(edited[: len(src) - 16], src[: len(src) - 16])
    with pytest.raises(SystemExit, match="code width 16, or --code-init random"):  # cpu size: code width 256
        train_res_transformer.main(common[:4] + ["--config", "cpu"] + common[6:] + ["--out", str(tmp_path / "r2")])

    import eval_t2m
    clips = [ClipRecord(f"e{i:02d}", random_motion(HUMANML22, T=45, seed=100 + i), [Caption(f"a person walks {i}")],
                        species="human", gender="male") for i in range(36)]
    write_dataset(tmp_path / "eval_data", clips, {"train": [c.id for c in clips[:4]],
                                                  "test": [c.id for c in clips[4:]]}, HUMANML22)  # 32: one batch
    eval_t2m.main(["--data", str(tmp_path / "eval_data"), "--repeats", "2", "--mm-prompts", "0", "--guidance", "3",
                   "--temperature", "0.5", "--seed", "4", "--out", str(tmp_path / "eval")] + models[:6])
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["generated"]["sampling"] == {"guidance": 3.0, "res_guidance": 1.0, "steps": 10,
                                               "temperature": 0.5, "precision": "fp32"}
    assert "generated with guidance 3, residual guidance 1, 10 steps, temperature 0.5, seed 4, split test" in \
        (tmp_path / "eval.md").read_text()


def test_generate_command_errors(tmp_path):
    import gen_t2m

    empty = tmp_path / "empty.txt"
    empty.write_text("\n# only a comment\n")
    with pytest.raises(SystemExit, match="holds no prompt"):
        gen_t2m.main(["--text-file", str(empty)])
    with pytest.raises(SystemExit, match="tokenizer.safetensors does not exist: .* is not a checkpoint folder"):
        gen_t2m.main(["--text", "a dog runs", "--checkpoints", str(tmp_path)])
    # a residual transformer named on the command line is not silently left out when its file is missing
    with pytest.raises(SystemExit, match="no_such_residual.safetensors does not exist"):
        gen_t2m.main(["--text", "a dog runs", "--residual", str(tmp_path / "no_such_residual.safetensors")])
    bad = tmp_path / "bad.txt"
    bad.write_text("cat#a cat walks\n")
    with pytest.raises(SystemExit, match="line 1"):
        gen_t2m.main(["--text-file", str(bad)])
    with pytest.raises(SystemExit, match="guidance scale must be >= 0"):
        gen_t2m.main(["--text", "a dog runs", "--guidance", "-2"])


def test_a_model_that_reads_text_with_clip_needs_its_weights_named(tok, tmp_path):
    import gen_t2m

    mask, _ = _models(tok, text_encoder="clip", cond_dim=512)
    tok.save(tmp_path / "tokenizer.safetensors")
    mask.save(tmp_path / "mask_transformer.safetensors")
    args = ["--text", "a dog runs", "--checkpoints", str(tmp_path), "--length", "24", "--no-video"]
    with pytest.raises(SystemExit, match="clip text encoder needs its weights: give --text-encoder-path"):
        gen_t2m.main(args + ["--out", str(tmp_path / "none")])  # never random weights by accident
    gen_t2m.main(args + ["--out", str(tmp_path / "out"), "--text-encoder-path", "random"])
    (sample,) = (tmp_path / "out").iterdir()
    assert np.load(sample / "joints.npy").shape == (24, 22, 3)


def test_generated_motions_are_scored_by_the_guo_protocol(pipe, folder):
    from eval.evaluator import EvaluatorConfig, TextMotionEvaluator
    from eval.t2m import evaluate, generated_motions, generated_multimodality, markdown_table, real_motions
    from models.text_encoder import CaptionBank

    torch.manual_seed(0)
    evaluator = TextMotionEvaluator(EvaluatorConfig(skeleton="humanml22", backbone="tiny", embed_dim=8))
    items = MotionFolder(folder).load_split("train") * 2  # R-precision needs a batch of 32
    r = evaluate(evaluator, CaptionBank("minilm"), items, {"real": real_motions, "generated": generated_motions(pipe)},
                 repeats=2)
    assert r["real"]["fid"][0] == pytest.approx(0.0, abs=1e-6) and r["generated"]["fid"][0] > 0
    mm = generated_multimodality(evaluator, pipe, items, prompts=3, samples=4, pairs=2)
    assert mm > 0
    r["generated"]["multimodality"] = mm
    assert f"{mm:.3f}" in markdown_table(r)


def test_adherence_measures_read_direction_turn_and_height(pipe, tmp_path):
    from eval.adherence import PROBES, markdown_table, measures, passes, phrasings, run_probes, summary

    spec = HUMANML22
    m = measures(spec)
    walk = joints_to_features(random_motion(spec, T=61, seed=1, turn_rate=0.0), spec)[0]
    x = walk.copy()
    x[:, spec.slices.root_lin_vel] = [0.0, 0.05]  # straight forward in the body's frame
    x[:, spec.slices.root_rot_vel.start] = -0.01  # the features' sign convention for a left turn
    j = recover_joints(x, spec)
    assert m["direction"](x, j) > 0 and m["turn"](x, j) > 0
    assert m["speed"](x, j) == pytest.approx(0.05 * 20, rel=1e-5)
    assert passes("sign", 1.0, -1.0) and not passes("sign", 1.0, 0.5) and passes("less", 0.2, 0.9)
    assert all(len(p.new) >= 4 for p in PROBES) and list(phrasings(PROBES[0]))[:2] == ["seen", "new 1"]
    r = run_probes(pipe, {"human": ("person", "male")}, samples=2)
    assert set(r) == {f"{p.name}/{ph}" for p in PROBES for ph in phrasings(p)}
    assert all(0 <= row["human"]["score"] <= 1 for row in r.values())
    s = summary(r)
    speed_new = [r[f"speed/new {k + 1}"]["human"]["score"] for k in range(len(PROBES[2].new))]
    assert s["speed"]["new"]["human"] == pytest.approx(np.mean(speed_new))
    assert s["speed"]["seen"]["human"] == r["speed/seen"]["human"]["score"]
    table = markdown_table(r)
    assert f"| speed | new (mean of {len(speed_new)}) |" in table
    assert "| direction | new 2 | the person advances" in table
