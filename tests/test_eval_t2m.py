import numpy as np
import pytest
import torch

from conftest import random_motion
from eval.evaluator import EvaluatorConfig, TextMotionEvaluator
from eval.t2m import RetrievedMotions, SpeciesProbe, evaluate, markdown_table, real_motions
from models.text_encoder import CaptionBank
from utils.dataset import Caption, MotionItem
from utils.features import joints_to_features
from utils.skeleton import ANIMO30


def test_species_probe_separates_separable_embeddings():
    rng = np.random.default_rng(0)
    centers = {"dog": np.array([3.0, 0, 0]), "cat": np.array([0, 3.0, 0]), "horse": np.array([0, 0, 3.0])}
    names = list(centers) * 30
    emb = np.stack([centers[n] for n in names]) + rng.normal(scale=0.3, size=(90, 3))
    assert SpeciesProbe(emb, names).accuracy(emb, names) == pytest.approx(1.0)
    assert np.isnan(SpeciesProbe(emb, ["dog"] * 90).accuracy(emb, names))


def test_species_probe_reads_species_that_are_not_linearly_separable():
    rng = np.random.default_rng(1)
    emb = rng.normal(size=(600, 4))
    radius = np.linalg.norm(emb[:, :2], axis=1)
    names = ["cat" if r < 1.1 else "horse" for r in radius]  # an inner disc and a ring around it
    train, test = slice(0, 400), slice(400, 600)
    probe = SpeciesProbe(emb[train], names[train])
    assert probe.accuracy(emb[test], names[test]) > 0.9


def _tiny_evaluator_and_items():
    torch.manual_seed(0)
    evaluator = TextMotionEvaluator(EvaluatorConfig(skeleton="animo30", backbone="tiny", embed_dim=8))
    items = []
    for i in range(40):
        feats, _ = joints_to_features(random_motion(ANIMO30, T=30 + i, seed=i), ANIMO30)
        items.append(MotionItem(f"c{i}", f"c{i}", feats, [Caption(f"an animal does thing {i}"),
                                                           Caption(f"a beast moves way {i}")],
                                ("dog", "cat")[i % 2], "male"))
    return evaluator, items


def test_guo_protocol_runs_end_to_end_on_a_tiny_evaluator():
    evaluator, items = _tiny_evaluator_and_items()
    bank = CaptionBank("minilm")
    r = evaluate(evaluator, bank, items, {"real": real_motions}, repeats=3, probe_items=items)
    real = r["real"]
    assert real["fid"][0] == pytest.approx(0.0, abs=1e-6)  # the real set against itself
    assert 0.0 <= real["top1"][0] <= real["top2"][0] <= real["top3"][0] <= 1.0
    assert real["diversity"][0] > 0 and real["mm_dist"][0] > 0
    assert set(real["retrieval"]) == {"R@1", "R@5", "R@10"} and 0 <= real["species_accuracy"] <= 1
    assert "shuffled captions (real motions)" in r
    assert "| real |" in markdown_table(r)


def _item(key, species, gender, caption, T=20, seed=0):
    feats, _ = joints_to_features(random_motion(ANIMO30, T=T, seed=seed), ANIMO30)
    return MotionItem(key, key, feats, [Caption(caption)], species, gender)


def test_retrieval_baseline_gives_the_motion_of_the_nearest_caption_among_the_same_performers():
    train = [_item("t0", "dog", "male", "a dog walks forward", seed=0),
             _item("t1", "cat", "male", "a dog walks forward", seed=1),  # the same words, another species
             _item("t2", "dog", "male", "a dog lies down to sleep", seed=2),
             _item("t3", "dog", "juvenile", "a puppy jumps up and down", seed=3)]
    source = RetrievedMotions(train, CaptionBank("minilm"))
    items = [_item("q0", "dog", "male", "a dog strolls forwards"),
             _item("q1", "cat", "male", "a cat goes to sleep"),  # the only male cat walks
             _item("q2", "dog", "female", "the dog hops in place"),  # no female dog: any dog
             _item("q3", "horse", "male", "a horse lies down")]  # no horse at all: any clip
    got = source(items, [it.captions[0].text for it in items], 0)
    assert [next(t.key for t in train if t.features is g) for g in got] == ["t0", "t1", "t3", "t2"]


def test_per_round_sources_make_new_motions_from_each_rounds_captions_and_others_are_asked_once():
    evaluator, items = _tiny_evaluator_and_items()
    calls = {"fixed": [], "per round": []}

    def fixed(its, captions, round):
        calls["fixed"].append(round)
        return [it.features * 1.1 for it in its]

    def varying(its, captions, round):
        calls["per round"].append((round, captions))
        return [it.features * (1.0 + 0.05 * (round + 1)) for it in its]
    varying.per_round = True

    r = evaluate(evaluator, CaptionBank("minilm"), items, {"fixed": fixed, "varying": varying}, repeats=3)
    assert calls["fixed"] == [0] and [c[0] for c in calls["per round"]] == [0, 1, 2]
    for _, captions in calls["per round"]:  # one of each item's own captions, drawn anew in each round
        assert all(c in [k.text for k in it.captions] for c, it in zip(captions, items))
    assert calls["per round"][0][1] != calls["per round"][1][1]
    assert r["fixed"]["fid"][1] == 0.0 and r["fixed"]["motion_draws"] == 1
    assert r["varying"]["fid"][1] > 0.0 and r["varying"]["motion_draws"] == 3
    assert " ± " in markdown_table(r).split("| varying |")[1].split("|")[5]  # its FID cell has an interval
