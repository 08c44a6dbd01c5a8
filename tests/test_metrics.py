import numpy as np
import pytest

from eval.metrics import (diversity, fid, frechet_distance, mean_interval, multimodality, r_precision,
                          retrieval_recall)


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 8))
    assert abs(fid(x, x)) < 1e-6


def test_fid_matches_the_closed_form_for_known_gaussians():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    c1, c2 = np.diag([1.0, 4.0, 9.0]), np.diag([4.0, 1.0, 1.0])
    # diagonal covariances: |mu|^2 + sum (sqrt(a) - sqrt(b))^2
    expected = 5.0 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(expected, abs=1e-9)
    rng = np.random.default_rng(1)
    a = rng.multivariate_normal(mu1, c1, size=200_000)
    b = rng.multivariate_normal(mu2, c2, size=200_000)
    assert fid(a, b) == pytest.approx(expected, rel=0.02)


def test_r_precision_perfect_and_random():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(32 * 40, 16))
    top, mm = r_precision(e, e)
    assert np.allclose(top, 1.0) and mm == pytest.approx(0.0, abs=1e-6)
    top, _ = r_precision(rng.normal(size=(32 * 400, 16)), rng.normal(size=(32 * 400, 16)))
    assert top[0] == pytest.approx(1 / 32, abs=0.006)
    assert top[2] == pytest.approx(3 / 32, abs=0.01)
    with pytest.raises(ValueError, match="at least 32"):
        r_precision(e[:10], e[:10])


def test_a_motion_that_occurs_several_times_is_not_a_hit_for_every_caption():
    rng = np.random.default_rng(0)
    text = rng.normal(size=(32, 8))
    top, _ = r_precision(text, np.zeros((32, 8)))  # one motion for every caption: ties, broken at random
    assert top == pytest.approx([1 / 32, 2 / 32, 3 / 32])
    text[1] = text[0] + 0.01
    motion = text.copy()
    motion[1] = motion[0]  # texts 0 and 1 find two copies of one motion nearest: each a hit half the time
    top, _ = r_precision(text, motion)
    assert top[0] == pytest.approx(31 / 32) and top[1] == pytest.approx(1.0)
    assert retrieval_recall(text, motion)["R@1"] == pytest.approx(31 / 32)


def test_mm_dist_and_diversity_by_hand():
    text = np.zeros((32, 2))
    motion = np.zeros((32, 2))
    motion[:, 0] = 3.0  # the first motion is 3 away from its text
    motion[1:, 1] = 4.0  # the others 5 away
    top, mm = r_precision(text, motion)
    assert mm == pytest.approx((3 + 31 * 5) / 32)
    assert top[0] == pytest.approx(1 / 32)  # only text 0 finds its motion first; the others tie-lose to motion 0
    # two points 5 apart: a random pair is either the same point (0) or the two (5)
    pts = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert diversity(pts, pairs=2, rng=np.random.default_rng(3)) in (0.0, 5.0)
    # standard normal points in 2D: E|X - Y| = sqrt(pi)
    g = np.random.default_rng(1).normal(size=(20_000, 2))
    assert diversity(g, pairs=5000) == pytest.approx(np.sqrt(np.pi), abs=0.05)
    assert diversity(3 * g, pairs=5000) == pytest.approx(3 * diversity(g, pairs=5000))


def test_multimodality_and_retrieval():
    emb = np.zeros((4, 30, 2))
    emb[:, ::2, 0] = 1.0  # half the samples at (1, 0), half at (0, 0)
    mmod = multimodality(emb, pairs=10, rng=np.random.default_rng(0))
    assert 0.0 < mmod < 1.0
    assert multimodality(np.ones((3, 30, 4))) == 0.0
    e = np.eye(20)
    assert retrieval_recall(e, e) == {"R@1": 1.0, "R@5": 1.0, "R@10": 1.0}
    shifted = np.roll(e, 1, axis=0)
    r = retrieval_recall(e, shifted)
    assert r["R@1"] == 0.0


def test_mean_interval():
    m, h = mean_interval([1.0, 3.0] * 10)
    assert m == 2.0 and h == pytest.approx(1.96 * 1.0 / np.sqrt(20))
