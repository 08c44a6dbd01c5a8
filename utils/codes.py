"""A data set's motion codes, computed once with the frozen tokenizer and cached on disk.

Each clip is encoded whole at several start offsets (0, 2, ... frames), so the transformers see the token grid
at different phases of the motion, as MoMask's random crops give. The cache file's name is a digest of the
tokenizer's weights, the clips (keys, lengths, a hash of the features) and the offsets: a retrained tokenizer or
changed data never reuses stale codes.
"""
from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.checkpoint import weights_digest
from models.text_encoder import CaptionBank, condition_texts
from models.vq.rvqvae import RVQVAE
from utils.dataset import MotionItem, item_rng
from utils.io import atomic_write_bytes

log = logging.getLogger("zoomotion.codes")


@dataclass
class ClipCodes:
    """Codes of one item at each offset: `codes[k]` (N_k, Q) int64 for a start at `offsets[k]` frames."""
    item: MotionItem
    codes: list[np.ndarray]


def _fingerprint(model: RVQVAE, items: list[MotionItem], offsets: tuple[int, ...]) -> str:
    h = hashlib.sha256(weights_digest(model).encode())
    h.update(repr(offsets).encode())
    for it in items:
        h.update(f"{it.key}:{len(it.features)}:{it.species}:{it.gender};".encode())
        h.update(hashlib.sha1(np.ascontiguousarray(it.features, dtype=np.float32).tobytes()).digest())
    return h.hexdigest()[:20]


@torch.no_grad()
def encode_items(model: RVQVAE, items: list[MotionItem], offsets: tuple[int, ...] = (0, 2), batch_size: int = 64,
                 cache_dir: str | Path | None = None, text_encoder_path: str | None = None) -> list[ClipCodes]:
    """Codes of every item at every offset (clips shorter than one token after the offset get none)."""
    unit = model.frames_per_token
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"codes-{_fingerprint(model, items, offsets)}.npz"
        if path.is_file():
            data = np.load(path)
            packed, index = data["codes"], data["index"]
            out = [ClipCodes(it, []) for it in items]
            for (i, _, a, b) in index:
                out[i].codes.append(packed[a:b])
            log.info("codes read from %s", path)
            return out
    model = model.eval()
    device = model.mean.device
    bank = CaptionBank(model.config.text_encoder, text_encoder_path)
    jobs = [(i, k, off) for i, it in enumerate(items) for k, off in enumerate(offsets)
            if (len(it.features) - off) // unit > 0]
    jobs.sort(key=lambda j: len(items[j[0]].features) - j[2])
    results: dict[tuple[int, int], np.ndarray] = {}
    for a in range(0, len(jobs), batch_size):
        chunk = jobs[a:a + batch_size]
        lengths = [(len(items[i].features) - off) // unit * unit for i, _, off in chunk]
        T = max(lengths)
        x = torch.zeros(len(chunk), T, model.spec.feature_dim)
        for r, ((i, _, off), n) in enumerate(zip(chunk, lengths)):
            x[r, :n] = torch.from_numpy(items[i].features[off:off + n])
        x = x.to(device)
        mask = torch.arange(T, device=device)[None] < torch.tensor(lengths, device=device)[:, None]
        cond = bank(condition_texts([items[i].species for i, _, _ in chunk],
                                    [items[i].gender for i, _, _ in chunk])).to(device)
        codes = model.encode(model.normalize(x) * mask[..., None], cond, mask).cpu().numpy()
        for r, ((i, k, _), n) in enumerate(zip(chunk, lengths)):
            results[(i, k)] = codes[r, : n // unit]
    out = [ClipCodes(it, [results[(i, k)] for k in range(len(offsets)) if (i, k) in results])
           for i, it in enumerate(items)]
    if path is not None:
        index, parts, at = [], [], 0
        for i, cc in enumerate(out):
            for k, c in enumerate(cc.codes):
                index.append((i, k, at, at + len(c)))
                parts.append(c)
                at += len(c)
        buf = io.BytesIO()
        np.savez(buf, codes=np.concatenate(parts).astype(np.int64), index=np.array(index, dtype=np.int64))
        atomic_write_bytes(path, buf.getvalue())
        log.info("codes cached in %s", path)
    return out


class CodeDataset(torch.utils.data.Dataset):
    """(codes window, caption, species, gender) for the transformers: a random offset, a random window of at most
    `max_tokens` tokens (one token shorter a third of the time, as MoMask crops) and a random caption per visit."""

    def __init__(self, clips: list[ClipCodes], max_tokens: int = 49, random_crop: bool = True):
        self.clips = [c for c in clips if c.codes]
        self.max_tokens, self.random_crop = max_tokens, random_crop

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index) -> dict:
        i, rng = item_rng(index)
        clip = self.clips[i]
        if self.random_crop:
            codes = clip.codes[int(rng.integers(len(clip.codes)))]
            n = min(len(codes), self.max_tokens)
            if n > 1 and rng.random() < 1 / 3:
                n -= 1
            start = int(rng.integers(0, len(codes) - n + 1))
            caption = clip.item.captions[int(rng.integers(len(clip.item.captions)))].text
        else:
            codes, start = clip.codes[0], 0
            n = min(len(codes), self.max_tokens)
            caption = clip.item.captions[0].text
        return {"codes": torch.from_numpy(codes[start:start + n].copy()), "caption": caption,
                "species": clip.item.species, "gender": clip.item.gender}


def collate_codes(batch: list[dict]) -> dict:
    """Pad to the longest: codes (B, N, Q) with -1 on padding; the texts as lists."""
    N = max(len(b["codes"]) for b in batch)
    Q = batch[0]["codes"].shape[1]
    codes = torch.full((len(batch), N, Q), -1, dtype=torch.long)
    for k, b in enumerate(batch):
        codes[k, : len(b["codes"])] = b["codes"]
    return {"codes": codes, **{key: [b[key] for b in batch] for key in ("caption", "species", "gender")}}
