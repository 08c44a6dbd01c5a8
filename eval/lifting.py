"""Lifting metrics: MPJPE, P-MPJPE (after a per-frame similarity alignment), acceleration error, and the same
acceleration error measured only at window seams versus inside windows."""
from __future__ import annotations

import numpy as np
import torch

from utils.lifting import Corruption, lift_sequence, lifting_pair, window_overlap, window_starts


def mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(..., J, 3) -> (...,) mean joint distance (root-relative inputs)."""
    return np.linalg.norm(pred - gt, axis=-1).mean(-1)


def p_mpjpe(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(N, J, 3) -> (N,) MPJPE after the best rotation, scale and translation per frame (Procrustes)."""
    mu_p, mu_g = pred.mean(1, keepdims=True), gt.mean(1, keepdims=True)
    p, g = pred - mu_p, gt - mu_g
    H = np.einsum("nji,njk->nik", p, g)
    U, S, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.einsum("nij,njk->nik", U, Vt)))
    D = np.ones_like(S)
    D[:, -1] = d
    R = np.einsum("nij,nj,njk->nik", U, D, Vt)  # rotation applied as p @ R
    scale = (S * D).sum(1) / np.maximum((p ** 2).sum((1, 2)), 1e-12)
    aligned = scale[:, None, None] * np.einsum("nji,nik->njk", p, R) + mu_g
    return mpjpe(aligned, gt)


def accel_error(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(T, J, 3) -> (T-2,) mean joint acceleration difference per frame."""
    a_p = pred[2:] - 2 * pred[1:-1] + pred[:-2]
    a_g = gt[2:] - 2 * gt[1:-1] + gt[:-2]
    return np.linalg.norm(a_p - a_g, axis=-1).mean(-1)


@torch.no_grad()
def evaluate_lifter(model, clips: list[np.ndarray], in_regressor, in_spec, out_spec, window: int,
                    overlap: int | None = None, corruption: Corruption | None = None, seed: int = 0,
                    flip: bool = True) -> dict:
    """Lift whole clips (any length, windows blended at the seams) seen by a seeded random camera.

    Errors are in mm (targets converted back to metres). Seam frames are those within 2 frames of a window edge
    inside the sequence. `overlap` defaults to a quarter of the window and `flip` to on, as in lift.py."""
    overlap = window_overlap(window, overlap)
    corruption = corruption or Corruption()
    model.eval()
    errs, perrs, acc_in, acc_seam = [], [], [], []
    for k, joints in enumerate(clips):
        rng = np.random.default_rng([seed, k])
        x, y, unit = lifting_pair(joints, in_regressor, rng, corruption, False, in_spec, out_spec)
        pred = lift_sequence(model, torch.from_numpy(x), window, overlap, flip).numpy()
        pred_m, gt_m = pred * unit * 1000, y * unit * 1000
        errs.append(mpjpe(pred_m, gt_m))
        perrs.append(p_mpjpe(pred_m, gt_m))
        acc = accel_error(pred_m, gt_m)  # frame t+1 for index t
        seam = np.zeros(len(joints), bool)
        for s in window_starts(len(joints), window, overlap)[1:]:
            for edge in (s, s + window - overlap):  # where one window's weight takes over from the other's
                seam[max(edge - 2, 0): edge + 3] = True
        seam_acc = seam[1:-1]
        acc_seam.append(acc[seam_acc])
        acc_in.append(acc[~seam_acc])
    out = {"clips": len(clips), "mpjpe_mm": float(np.concatenate(errs).mean()),
           "p_mpjpe_mm": float(np.concatenate(perrs).mean()),
           "accel_error_mm": float(np.concatenate(acc_in + acc_seam).mean())}
    seams = np.concatenate(acc_seam)
    if seams.size:
        out["accel_error_seams_mm"] = float(seams.mean())
        out["accel_error_inside_mm"] = float(np.concatenate(acc_in).mean())
        out["seam_ratio"] = out["accel_error_seams_mm"] / out["accel_error_inside_mm"]
    return out
