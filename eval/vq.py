"""Tokenizer evaluation: reconstruction MPJPE (all, per species, with the first k code layers), codebook usage
and perplexity per layer, foot skating of reconstructions, and whether the species condition is used.

A reconstruction is what `MotionCodec` gives back: decoded with the clip's body condition and refitted to the
clip's rest skeleton (`fit_to_skeleton`), both of which travel beside the codes. The decoder's raw output is
reported too (`mpjpe_mm_unfitted`)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from models.text_encoder import condition_texts, load_text_encoder
from models.vq.rvqvae import RVQVAE
from utils.dataset import MotionItem
from utils.features import fit_to_skeleton, recover_joints
from utils.kinematics import estimate_offsets


def mpjpe_mm(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(..., T, J, 3) joints -> (..., T) mean joint error in mm after aligning the roots per frame (MoMask)."""
    pred = pred - pred[..., :1, :]
    gt = gt - gt[..., :1, :]
    return 1000.0 * (pred - gt).norm(dim=-1).mean(-1)


def foot_skating(joints: torch.Tensor, contacts: torch.Tensor, fps: float, foot_joints) -> dict[str, float]:
    """Horizontal foot speed in frames labelled as contact: mean mm per frame and share above 1 cm per frame."""
    feet = joints[..., list(foot_joints), :]  # (N, T, F, 3)
    step = (feet[:, 1:, :, [0, 2]] - feet[:, :-1, :, [0, 2]]).norm(dim=-1)  # (N, T-1, F)
    on = contacts[:, :-1] > 0.5
    moved = step[on]
    if moved.numel() == 0:
        return {"skate_mm_per_frame": 0.0, "skate_share_over_1cm": 0.0}
    return {"skate_mm_per_frame": float(1000 * moved.mean()), "skate_share_over_1cm": float((moved > 0.01).float().mean())}


def _batches(items: list[MotionItem], unit: int, max_length: int, batch_size: int):
    order = sorted(range(len(items)), key=lambda i: len(items[i].features))
    for a in range(0, len(order), batch_size):
        chunk = [items[i] for i in order[a:a + batch_size]]
        lengths = [min(len(it.features), max_length) // unit * unit for it in chunk]
        T = max(lengths)
        x = np.zeros((len(chunk), T, chunk[0].features.shape[1]), np.float32)
        for k, (it, n) in enumerate(zip(chunk, lengths)):
            x[k, :n] = it.features[:n]
        yield chunk, torch.from_numpy(x), torch.tensor(lengths)


def _fit(rec: torch.Tensor, offsets: list[np.ndarray], lengths: list[int], spec) -> torch.Tensor:
    """(B, T, D) unnormalised decoded features -> each item's valid frames refitted to its rest skeleton."""
    out = rec.clone()
    for b, (off, n) in enumerate(zip(offsets, lengths)):
        out[b, :n] = torch.from_numpy(fit_to_skeleton(rec[b, :n].cpu().numpy(), spec, off)).to(rec)
    return out


@torch.no_grad()
def evaluate_tokenizer(model: RVQVAE, items: list[MotionItem], batch_size: int = 32, max_length: int = 196,
                       wrong_species: bool = True, device: str | torch.device | None = None) -> dict:
    """Metrics over `items` (unnormalised features, as loaded by MotionFolder)."""
    device = torch.device(device) if device else model.mean.device
    model = model.to(device).eval()
    spec, unit, Q = model.spec, model.frames_per_token, model.config.num_quantizers
    items = [it for it in items if len(it.features) >= unit]
    encoder = load_text_encoder(model.config.text_encoder, device=device)
    species_all = sorted({it.species for it in items})
    errs = {k: [] for k in range(1, Q + 1)}
    err_wrong, by_species = [], defaultdict(list)
    counts = torch.zeros(Q, model.config.codebook_size, dtype=torch.long)
    skate_rec, skate_gt, err_unfitted = [], [], []
    for chunk, x, lengths in _batches(items, unit, max_length, batch_size):
        x, lengths = x.to(device), lengths.to(device)
        mask = torch.arange(x.shape[1], device=device)[None] < lengths[:, None]  # (B, T)
        cond = encoder(condition_texts([it.species for it in chunk], [it.gender for it in chunk]))
        xn = model.normalize(x) * mask[..., None]
        codes = model.encode(xn, cond, mask)  # (B, T/4, Q)
        body = model.body_of(xn, mask)  # the clip's proportions (None for a tokenizer without them)
        valid = codes[..., 0] >= 0
        for q in range(Q):
            counts[q] += torch.bincount(codes[..., q][valid].cpu(), minlength=model.config.codebook_size)
        gt = recover_joints(x.double(), spec)
        n_frames = lengths.tolist()
        offsets = [estimate_offsets(spec, gt[b, :n].cpu().numpy()) for b, n in enumerate(n_frames)]
        for k in range(1, Q + 1):  # after the loop rec, rec_joints and frame_err are those of all Q layers
            raw = model.denormalize(model.decode(codes, cond, num_layers=k, mask=mask, body=body))
            rec = _fit(raw, offsets, n_frames, spec)
            rec_joints = recover_joints(rec.double(), spec)
            frame_err = mpjpe_mm(rec_joints, gt)  # (B, T)
            errs[k].append(frame_err[mask].cpu())
        err_unfitted.append(mpjpe_mm(recover_joints(raw.double(), spec), gt)[mask].cpu())
        per_item = (frame_err * mask).sum(1) / lengths
        for it, e in zip(chunk, per_item.tolist()):
            by_species[it.species].append(e)
        c = spec.slices.contacts
        for m, joints, contacts in ((skate_rec, rec_joints, rec[..., c]), (skate_gt, gt, x[..., c])):
            for b, n in enumerate(lengths.tolist()):
                m.append(foot_skating(joints[b:b + 1, :n], contacts[b:b + 1, :n], spec.fps, spec.foot_joints))
        if wrong_species and len(species_all) > 1:
            others = [species_all[(species_all.index(it.species) + 1) % len(species_all)] for it in chunk]
            wrong = encoder(condition_texts(others, [it.gender for it in chunk]))
            rec_w = _fit(model.denormalize(model.decode(codes, wrong, mask=mask, body=body)), offsets, n_frames, spec)
            err_wrong.append(mpjpe_mm(recover_joints(rec_w.double(), spec), gt)[mask].cpu())

    usage = (counts > 0).float().mean(1)
    p = counts.float() / counts.sum(1, keepdim=True).clamp_min(1)
    perplexity = torch.exp(-(p * p.clamp_min(1e-12).log()).sum(1))
    out = {
        "items": len(items),
        "mpjpe_mm": float(torch.cat(errs[Q]).mean()),
        "mpjpe_mm_unfitted": float(torch.cat(err_unfitted).mean()),
        "mpjpe_mm_by_layers": {k: float(torch.cat(v).mean()) for k, v in errs.items()},
        "mpjpe_mm_by_species": {s: float(np.mean(v)) for s, v in sorted(by_species.items())},
        "code_usage_by_layer": usage.tolist(),
        "perplexity_by_layer": perplexity.tolist(),
        "skating_reconstruction": _mean_dicts(skate_rec),
        "skating_ground_truth": _mean_dicts(skate_gt),
    }
    if err_wrong:
        out["mpjpe_mm_wrong_species"] = float(torch.cat(err_wrong).mean())
    return out


def _mean_dicts(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]} if rows else {}


def markdown_table(results: dict[str, dict]) -> str:
    """One row per evaluated split / data set; "unfitted" is the decoder's output before `fit_to_skeleton`."""
    first = next(iter(results.values()))
    Q = len(first["code_usage_by_layer"])
    head = ["set", "items", "MPJPE mm", "unfitted"] + [f"k={k}" for k in range(1, Q + 1)] + [
        "wrong species", "min usage", "min perplexity", "skate rec / gt (mm/frame)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in results.items():
        row = [name, str(r["items"]), f"{r['mpjpe_mm']:.1f}", f"{r.get('mpjpe_mm_unfitted', float('nan')):.1f}"]
        row += [f"{r['mpjpe_mm_by_layers'][k]:.1f}" for k in r["mpjpe_mm_by_layers"]]
        row += [f"{r.get('mpjpe_mm_wrong_species', float('nan')):.1f}", f"{min(r['code_usage_by_layer']):.0%}",
                f"{min(r['perplexity_by_layer']):.0f}",
                f"{r['skating_reconstruction'].get('skate_mm_per_frame', 0):.1f} / "
                f"{r['skating_ground_truth'].get('skate_mm_per_frame', 0):.1f}"]
        lines.append("| " + " | ".join(row) + " |")
    species = [f"| {name} | " + ", ".join(f"{s} {v:.1f}" for s, v in r["mpjpe_mm_by_species"].items()) + " |"
               for name, r in results.items()]
    return "\n".join(lines) + "\n\nMPJPE (mm) by species:\n\n| set | per species |\n|---|---|\n" + "\n".join(species)
