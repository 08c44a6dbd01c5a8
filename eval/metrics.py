"""The text-to-motion metrics of Guo et al. (2022), as every peer reports them, plus retrieval recall.

All take embeddings from an evaluator (numpy, (N, E)); distances are Euclidean, as in the protocol.
R-precision and MM-Dist are computed in batches of 32 (the true caption among 32); a metric repeated over
several shuffles is reported as mean and 95% interval (1.96 * std / sqrt(repeats)).
"""
from __future__ import annotations

import numpy as np
from scipy import linalg


def gaussian_stats(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 2 or len(emb) < 2:
        raise ValueError(f"need at least 2 embeddings of shape (N, E), got {emb.shape}")
    return emb.mean(0), np.cov(emb, rowvar=False)


def frechet_distance(mu1, cov1, mu2, cov2, eps: float = 1e-6) -> float:
    """|mu1 - mu2|^2 + tr(C1 + C2 - 2 (C1 C2)^1/2) between two Gaussians."""
    diff = mu1 - mu2
    covmean = linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():  # near-singular product: regularise, as the FID reference code does
        offset = np.eye(len(cov1)) * eps
        covmean = linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    covmean = covmean.real
    d = float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(covmean))
    return max(d, 0.0)  # a distance; round-off can leave -1e-12 for identical sets


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    return frechet_distance(*gaussian_stats(real), *gaussian_stats(generated))


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, E), (M, E) -> (N, M) distances."""
    d2 = (a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T
    return np.sqrt(np.maximum(d2, 0.0))


def diversity(emb: np.ndarray, pairs: int = 300, rng: np.random.Generator | None = None) -> float:
    """Mean distance between `pairs` random pairs of embeddings (Guo: 300)."""
    emb = np.asarray(emb, dtype=np.float64)
    if len(emb) < 2:
        raise ValueError("diversity needs at least 2 embeddings")
    rng = rng or np.random.default_rng(0)
    pairs = min(pairs, len(emb))
    a = rng.choice(len(emb), pairs, replace=False)
    b = rng.choice(len(emb), pairs, replace=False)
    return float(np.linalg.norm(emb[a] - emb[b], axis=1).mean())


def top_k_share(d: np.ndarray, k: int) -> float:
    """d (N, M) distances, the true match of row i in column i: the share of rows whose true match is among their k
    nearest. Ties are broken at random, in expectation: a motion that occurs twice (a retrieval baseline can return
    one train motion for several captions) is not a hit for every caption that matches either copy."""
    true = d.diagonal()[:, None]
    closer = (d < true).sum(1)
    ties = (d == true).sum(1) - 1  # other columns exactly as near
    return float(np.clip((k - closer) / (ties + 1), 0.0, 1.0).mean())


def r_precision(text: np.ndarray, motion: np.ndarray, batch: int = 32, top_k: int = 3) -> tuple[np.ndarray, float]:
    """Row i of `text` matches row i of `motion`. In consecutive batches of `batch`, how often the true motion is
    among a text's k nearest (k = 1..top_k), and the mean matched distance (MM-Dist). Incomplete batches are dropped.
    """
    n = len(text) // batch * batch
    if n == 0:
        raise ValueError(f"R-precision needs at least {batch} text-motion pairs, got {len(text)}")
    hits, mm = np.zeros(top_k), []
    for a in range(0, n, batch):
        d = euclidean(text[a:a + batch], motion[a:a + batch])  # (batch, batch)
        hits += [top_k_share(d, k) * batch for k in range(1, top_k + 1)]
        mm.append(d.diagonal())
    return hits / n, float(np.concatenate(mm).mean())


def multimodality(emb: np.ndarray, pairs: int = 10, rng: np.random.Generator | None = None) -> float:
    """emb (P, S, E): S generations for each of P prompts; mean distance over `pairs` random pairs per prompt."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.ndim != 3 or emb.shape[1] < 2:
        raise ValueError(f"multimodality needs (prompts, samples >= 2, E) embeddings, got {emb.shape}")
    rng = rng or np.random.default_rng(0)
    S = emb.shape[1]
    pairs = min(pairs, S)
    a = np.stack([rng.choice(S, pairs, replace=False) for _ in range(len(emb))])
    b = np.stack([rng.choice(S, pairs, replace=False) for _ in range(len(emb))])
    rows = np.arange(len(emb))[:, None]
    return float(np.linalg.norm(emb[rows, a] - emb[rows, b], axis=-1).mean())


def retrieval_recall(text: np.ndarray, motion: np.ndarray, ks=(1, 5, 10)) -> dict[str, float]:
    """Text-to-motion retrieval over the whole set: R@k = share of texts whose motion ranks in the top k."""
    d = euclidean(text, motion)
    return {f"R@{k}": top_k_share(d, k) for k in ks}


def mean_interval(values) -> tuple[float, float]:
    """Mean and 95% half-interval over repeats (Guo: 20 repeats)."""
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(len(v)))
