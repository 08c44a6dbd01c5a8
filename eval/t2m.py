"""Text-to-motion evaluation with a trained evaluator, the Guo et al. protocol.

A "motion source" gives, for each test item, the motion to score: the real motion (the ceiling), the tokenizer's
reconstruction, a generated motion, or a baseline: the real train motion of the nearest caption (retrieval). Each of
`repeats` rounds pairs every item with one of its captions at random (generated and retrieved motions are made anew
from those captions, as in Guo's protocol), shuffles, and measures R-precision (batch 32), MM-Dist, FID against the
real motions and Diversity; rounds are summarised as mean and 95% interval. Also: text-to-motion retrieval over the
whole set, a species probe (a small MLP on the evaluator's motion embedding, fitted on the train split) and the same
R-precision with shuffled captions (chance).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from eval.evaluator import TextMotionEvaluator
from eval.metrics import diversity, fid, mean_interval, multimodality, r_precision, retrieval_recall
from utils.dataset import MotionItem

# (items, the caption each motion is to fit, the round) -> one motion (T, D) per item. A source whose motions depend
# on the caption or the round (generated, retrieved) says so with a true `per_round` attribute and is asked again in
# every round, as in Guo's protocol; the others (real, reconstruction) once.
MotionSource = Callable[[list[MotionItem], list[str], int], list[np.ndarray]]


def real_motions(items: list[MotionItem], captions: list[str] | None = None, round: int = 0) -> list[np.ndarray]:
    return [it.features for it in items]


def per_round(source: MotionSource) -> bool:
    return getattr(source, "per_round", False)


def item_frames(pipe, item: MotionItem) -> int:
    """The length to generate for a data item: its own, within the model's range."""
    return int(np.clip(len(item.features), pipe.min_frames, pipe.max_frames))


def generate_for(pipe, items: list[MotionItem], captions: list[str], seed: int = 0, batch_size: int = 32,
                 **sampling) -> list[np.ndarray]:
    """Features generated for each item from the given caption, with its species, gender and length, in batches
    (batch starting at item a seeded seed + a); `sampling` goes to T2MPipeline.generate."""
    out = []
    for a in range(0, len(items), batch_size):
        chunk = items[a:a + batch_size]
        gen = pipe.generate(captions[a:a + batch_size], [it.species for it in chunk], [it.gender for it in chunk],
                            [item_frames(pipe, it) for it in chunk], seed=seed + a, **sampling)
        out += [m.features for m in gen]
    return out


def generated_motions(pipe, batch_size: int = 32, seed: int = 0, **sampling) -> MotionSource:
    """A motion source: each item generated from the round's caption by `generate_for`, anew in every round (round r
    seeds item i with seed + r * len(items) + i)."""
    def source(items: list[MotionItem], captions: list[str], round: int = 0) -> list[np.ndarray]:
        return generate_for(pipe, items, captions, seed + round * len(items), batch_size, **sampling)
    source.per_round = True
    return source


def same_performer(species: np.ndarray, genders: np.ndarray, item: MotionItem) -> np.ndarray:
    """A pool's species and genders (P,) -> (P,) bool: those of the item's species and gender; of its species when
    there are none; all when there are none of those either."""
    same = species == item.species
    both = same & (genders == item.gender)
    return both if both.any() else same if same.any() else np.ones(len(species), dtype=bool)


class RetrievedMotions:
    """A retrieval baseline, the generator's inputs without a generator: for each item, the real train motion whose
    caption lies nearest the round's caption (cosine of `bank`'s sentence embeddings, before any evaluator
    projection) among the train captions of the item's performer (`same_performer`, worked out once per species and
    gender); when several train motions have that caption, one drawn at random (seeded by the round)."""

    per_round = True

    def __init__(self, train: list[MotionItem], bank):
        self.train, self.bank = train, bank
        self.owner = np.array([j for j, it in enumerate(train) for _ in it.captions])  # caption -> train item
        self.emb = F.normalize(bank([c.text for it in train for c in it.captions]).float(), dim=-1).cpu().numpy()
        self.species = np.array([train[j].species for j in self.owner])  # of each caption's motion
        self.genders = np.array([train[j].gender for j in self.owner])
        self.performers: dict[tuple[str, str], np.ndarray] = {}  # (species, gender) -> (C,) bool: captions to search

    def __call__(self, items: list[MotionItem], captions: list[str], round: int = 0) -> list[np.ndarray]:
        query = F.normalize(self.bank(captions).float(), dim=-1).cpu().numpy()
        # each item's (C,) cosines, from one product per 256 items: a large set's (items, C) is never held whole
        rows = (sim for a in range(0, len(query), 256) for sim in query[a:a + 256] @ self.emb.T)
        rng = np.random.default_rng(round)
        picks = []
        for it, sim in zip(items, rows):
            key = (it.species, it.gender)
            if key not in self.performers:
                self.performers[key] = same_performer(self.species, self.genders, it)
            sim[~self.performers[key]] = -np.inf
            nearest = np.flatnonzero(sim >= sim.max() - 1e-6)  # a caption that several train motions share
            picks.append(self.owner[nearest[int(rng.integers(len(nearest)))]])
        return [self.train[j].features for j in picks]


def generated_multimodality(evaluator: TextMotionEvaluator, pipe, items: list[MotionItem], prompts: int = 100,
                            samples: int = 30, pairs: int = 10, seed: int = 0, **sampling) -> float:
    """Guo's MultiModality: `samples` generations for each of `prompts` test captions, mean distance of `pairs`
    random pairs of a prompt's generations in the evaluator's space."""
    rng = np.random.default_rng(seed)
    chosen = [items[i] for i in rng.choice(len(items), min(prompts, len(items)), replace=False)]
    emb = []
    for k, it in enumerate(chosen):
        gen = pipe.generate([it.captions[0].text] * samples, [it.species] * samples, [it.gender] * samples,
                            [item_frames(pipe, it)] * samples, seed=seed + k * samples, **sampling)
        emb.append(embed_motions(evaluator, [m.features for m in gen]))
    return multimodality(np.stack(emb), pairs, rng)


@torch.no_grad()
def embed_motions(evaluator: TextMotionEvaluator, motions: list[np.ndarray], batch_size: int = 64,
                  max_frames: int | None = None) -> np.ndarray:
    """Unnormalised feature arrays of any lengths -> (N, E) embeddings."""
    max_frames = max_frames or evaluator.max_frames
    out = []
    for a in range(0, len(motions), batch_size):
        chunk = [m[:max_frames] for m in motions[a:a + batch_size]]
        lengths = torch.tensor([len(m) for m in chunk])
        x = torch.zeros(len(chunk), int(lengths.max()), chunk[0].shape[1])
        for k, m in enumerate(chunk):
            x[k, : len(m)] = torch.from_numpy(np.asarray(m, dtype=np.float32))
        out.append(evaluator.encode_motion(x, lengths))
    return torch.cat(out).numpy()


@torch.no_grad()
def embed_texts(evaluator: TextMotionEvaluator, bank, texts: list[str], batch_size: int = 256) -> np.ndarray:
    return torch.cat([evaluator.encode_text(bank(texts[a:a + batch_size]))
                      for a in range(0, len(texts), batch_size)]).numpy()


class SpeciesProbe:
    """A small MLP (one hidden layer, on standardised embeddings) fitted on the train split's real-motion
    embeddings to tell the species; seeded, so the same embeddings always give the same probe. On the zoo's animal
    test motions, with an evaluator trained without a species term, a linear probe read the species of 69.7% and
    this one 89.2%; with the species term (train_evaluator.py --species-weight) this probe reads 96.1%."""

    def __init__(self, emb: np.ndarray, species: list[str], hidden: int = 256, steps: int = 3000, seed: int = 0):
        self.names = sorted(set(species))
        X = torch.from_numpy(np.asarray(emb)).float()
        y = torch.tensor([self.names.index(s) for s in species])
        self.mean, self.std = X.mean(0), X.std(0) + 1e-6
        g = torch.Generator().manual_seed(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], hidden), torch.nn.GELU(), torch.nn.Dropout(0.2),
                                           torch.nn.Linear(hidden, len(self.names)))
            opt = torch.optim.AdamW(self.net.parameters(), lr=1e-3, weight_decay=1e-3)
            Xn = (X - self.mean) / self.std
            for _ in range(steps if len(self.names) > 1 else 0):
                i = torch.randint(len(X), (min(256, len(X)),), generator=g)
                loss = F.cross_entropy(self.net(Xn[i]), y[i])
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.net.eval()

    @torch.no_grad()
    def accuracy(self, emb: np.ndarray, species: list[str]) -> float:
        """Share of `emb` whose species is told right; NaN when the probe saw fewer than two species."""
        if len(self.names) < 2:
            return float("nan")
        pred = self.net((torch.from_numpy(np.asarray(emb)).float() - self.mean) / self.std).argmax(1)
        truth = torch.tensor([self.names.index(s) if s in self.names else -1 for s in species])
        return float((pred == truth).float().mean())


def evaluate(evaluator: TextMotionEvaluator, bank, items: list[MotionItem], sources: dict[str, MotionSource],
             repeats: int = 20, seed: int = 0, probe_items: list[MotionItem] | None = None) -> dict:
    """Guo-protocol metrics for each motion source, plus retrieval, the species probe and shuffled captions.

    Round r (seeded [seed, r]) draws a caption for every item and an order of the items; a per-round source makes its
    motions from those captions, so its FID, Diversity, retrieval and species accuracy get an interval too."""
    evaluator.eval()
    real_emb = embed_motions(evaluator, real_motions(items))
    probe = None
    if probe_items:
        probe = SpeciesProbe(embed_motions(evaluator, real_motions(probe_items)), [it.species for it in probe_items])
    first_text = embed_texts(evaluator, bank, [it.captions[0].text for it in items])

    def draw(r: int):
        """Round r: the items' order, the caption of each item, and the rng that then draws Diversity's pairs (the same
        for every source)."""
        rr = np.random.default_rng([seed, r])
        order = rr.permutation(len(items))
        caps = [""] * len(items)
        for i in order:
            caps[i] = items[i].captions[int(rr.integers(len(items[i].captions)))].text
        return order, caps, rr

    results = {}
    for name, source in sources.items():
        rounds = {k: [] for k in ("top1", "top2", "top3", "mm_dist", "fid", "diversity")}
        recalls, species = [], []  # per draw of the motions
        emb = None
        for r in range(repeats):
            order, caps, rr = draw(r)
            if emb is None or per_round(source):
                emb = real_emb if source is real_motions else embed_motions(evaluator, source(items, caps, r))
                recalls.append(retrieval_recall(first_text, emb))
                if probe is not None:
                    species.append(probe.accuracy(emb, [it.species for it in items]))
            top, mm = r_precision(embed_texts(evaluator, bank, [caps[i] for i in order]), emb[order])
            rounds["top1"].append(top[0])
            rounds["top2"].append(top[1])
            rounds["top3"].append(top[2])
            rounds["mm_dist"].append(mm)
            rounds["fid"].append(fid(real_emb, emb))
            rounds["diversity"].append(diversity(emb, 300, rr))
        out = {k: mean_interval(v) for k, v in rounds.items()}
        out["retrieval"] = {k: float(np.mean([rec[k] for rec in recalls])) for k in recalls[0]}
        if species:
            out["species_accuracy"] = float(np.mean(species))
        out["motion_draws"] = len(recalls)
        results[name] = out
    shuffled = np.random.default_rng(seed + 1).permutation(len(items))
    text = embed_texts(evaluator, bank, [items[i].captions[0].text for i in shuffled])
    results["shuffled captions (real motions)"] = {"top1": (float(r_precision(text, real_emb)[0][0]), 0.0)}
    return results


def markdown_table(results: dict) -> str:
    """FID with five decimals (embeddings of unit length keep it small), with an interval where the motions were drawn
    anew in every round; a line after the table gives it as a multiple of the reconstruction's."""
    def interval(r: dict, c: str, digits: int = 3) -> str:
        return f"{r[c][0]:.{digits}f} ± {r[c][1]:.{digits}f}" if c in r else ""

    lines = ["| motions | R-prec top-1 | top-2 | top-3 | MM-Dist | FID | Diversity | MModality | R@1 / R@5 / R@10 "
             "| species acc |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        cells = [interval(r, c) for c in ("top1", "top2", "top3", "mm_dist")]
        fid_cell = interval(r, "fid", 5) if r.get("motion_draws", 1) > 1 else f"{r['fid'][0]:.5f}" if "fid" in r else ""
        cells += [fid_cell, interval(r, "diversity")]
        cells.append(f"{r['multimodality']:.3f}" if "multimodality" in r else "")
        ret = r.get("retrieval")
        cells.append(" / ".join(f"{ret[k]:.3f}" for k in ("R@1", "R@5", "R@10")) if ret else "")
        acc = r.get("species_accuracy")
        cells.append("" if acc is None else "n/a (one species)" if np.isnan(acc) else f"{acc:.1%}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    recon = results.get("reconstruction", {}).get("fid", (0.0,))[0]
    ratios = [f"{name} {r['fid'][0] / recon:.1f}x" for name, r in results.items()
              if recon > 0 and "fid" in r and name not in ("real", "reconstruction")]
    if ratios:
        lines += ["", "FID as a multiple of the reconstruction's: " + ", ".join(ratios)]
    return "\n".join(lines)
