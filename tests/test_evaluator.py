import math

import pytest
import torch

from conftest import random_motion
from eval.evaluator import EvaluatorConfig, TextMotionEvaluator, motion_input
from utils.features import joints_to_features
from utils.skeleton import HUMANML22


def _model():
    torch.manual_seed(0)
    return TextMotionEvaluator(EvaluatorConfig(skeleton="humanml22", backbone="tiny", embed_dim=8))


def test_embeddings_are_unit_length_and_ignore_padding():
    model = _model().eval()
    feats = [joints_to_features(random_motion(HUMANML22, T=T + 1, seed=T), HUMANML22)[0] for T in (40, 24)]
    x = torch.zeros(2, 40, HUMANML22.feature_dim)
    x[0], x[1, :24] = torch.from_numpy(feats[0]), torch.from_numpy(feats[1])
    with torch.no_grad():
        both = model.encode_motion(x, torch.tensor([40, 24]))
        alone = model.encode_motion(x[1:, :24], torch.tensor([24]))
    assert both.shape == (2, 8) and torch.allclose(both.norm(dim=-1), torch.ones(2), atol=1e-5)
    assert torch.allclose(both[1], alone[0], atol=1e-5)


def test_motion_input_is_root_relative_plus_trajectory_plus_speed():
    joints = torch.from_numpy(random_motion(HUMANML22, T=10, seed=1)).float()[None]
    m = motion_input(joints, stride=4)
    assert m.shape == (1, 3, 22, 6)  # frames 0, 4, 8
    assert torch.allclose(m[..., 0, [0, 2]], torch.zeros(1, 3, 2))  # the root sits over its own ground point
    assert torch.allclose(m[..., 0, 1], joints[:, ::4, 0, 1])  # but keeps its height
    assert torch.allclose(m[..., 3, 3:5], joints[:, ::4, 0, [0, 2]])
    step = (joints[:, 1:] - joints[:, :-1]).norm(dim=-1)  # (1, 9, 22)
    assert torch.allclose(m[0, 1, :, 5], step[0, 4:8].mean(0))  # mean speed over the stride's frames
    assert torch.allclose(m[0, 2, :, 5], step[0, 8:9].sum(0) / 4)  # the last frame has no step
    # steps into padding count as still: a padded clip reads as the clip alone
    padded = torch.cat([joints, torch.zeros(1, 6, 22, 3)], dim=1)
    cut = motion_input(padded, stride=4, lengths=torch.tensor([10]))
    assert torch.allclose(cut[:, :3], m)


def test_near_identical_captions_are_not_negatives():
    model = _model()
    m = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    t = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    text_feats = torch.eye(4)
    text_feats[1] = text_feats[0]  # captions 0 and 1 say the same thing
    loss = model.contrastive_loss(m, t, text_feats)
    logits = m @ t.T / model.config.temperature
    logits[0, 1] = logits[1, 0] = -math.inf
    target = torch.arange(4)
    expected = 0.5 * (torch.nn.functional.cross_entropy(logits, target)
                      + torch.nn.functional.cross_entropy(logits.T, target))
    assert torch.allclose(loss, expected)
    assert not torch.allclose(loss, model.contrastive_loss(m, t, torch.eye(4)))


def test_species_classifier_only_with_several_species_and_round_trips(tmp_path):
    assert _model().species_head is None  # no species listed: contrastive only
    one = TextMotionEvaluator(EvaluatorConfig(skeleton="humanml22", backbone="tiny", embed_dim=8, species=["human"]))
    assert one.species_head is None
    with pytest.raises(ValueError, match="fewer than 2 species"):
        one.species_loss(torch.zeros(1, 8), ["human"])
    torch.manual_seed(0)
    model = TextMotionEvaluator(EvaluatorConfig(skeleton="humanml22", backbone="tiny", embed_dim=8,
                                                species=["cat", "dog"]))
    emb = torch.nn.functional.normalize(torch.randn(3, 8), dim=-1)
    logits = model.species_head(emb[[0, 2]]) / model.config.temperature
    expected = torch.nn.functional.cross_entropy(logits, torch.tensor([1, 0]))
    assert torch.allclose(model.species_loss(emb, ["dog", "yak", "cat"]), expected)  # the unknown yak is left out
    none = model.species_loss(emb, ["yak", "emu", "unknown"])
    assert torch.isfinite(none) and none.item() == 0.0
    model.save(tmp_path / "ev.safetensors")
    back = TextMotionEvaluator.load(tmp_path / "ev.safetensors")
    assert back.config.species == ["cat", "dog"]
    assert torch.equal(back.species_head.weight, model.species_head.weight)


def test_species_classifier_teaches_the_embedding_to_tell_species():
    """Two 'species' that differ only in body size: after a few steps on the species loss alone the motion
    embedding separates them (the evaluator is never given the species)."""
    torch.manual_seed(0)
    model = TextMotionEvaluator(EvaluatorConfig(skeleton="humanml22", backbone="tiny", embed_dim=8,
                                                species=["big", "small"]))
    feats, names = [], []
    for k in range(16):
        joints = random_motion(HUMANML22, T=17, seed=k)
        scale = 1.0 if k % 2 else 0.5
        feats.append(torch.from_numpy(joints_to_features(joints * scale, HUMANML22)[0]))
        names.append("big" if k % 2 else "small")
    x, lengths = torch.stack(feats), torch.full((16,), 16)
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    first = None
    for _ in range(40):
        loss = model.species_loss(model.encode_motion(x, lengths), names)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        guess = model.species_logits(model.encode_motion(x, lengths)).argmax(1)
    assert loss.item() < 0.3 * first
    assert [model.config.species[g] for g in guess.tolist()] == names
