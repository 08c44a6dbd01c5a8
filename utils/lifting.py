"""Training data and inference helpers for 2D-to-3D lifting.

Training pairs come from a data set's 3D joints: a random perspective camera looks at the clip, the 2D
projection is normalised by the body (each frame centred on its keypoint box, the window scaled by the body's
median box size) and corrupted the way detectors fail (MotionBERT: masked joints and frames, smooth and
per-frame noise, a confidence that drops with the noise). The 3D target is
the camera-frame pose relative to the root, in the same normalised units, so the model never has to guess the
image scale. Long inputs are lifted in overlapping windows, blended at the seams with smooth weights.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from utils.dataset import item_rng
from utils.skeleton import SkeletonSpec


@dataclass
class Corruption:
    joint_mask: float = 0.05  # MotionBERT's pretraining rates
    frame_mask: float = 0.10
    smooth_noise: float = 0.02  # std of slowly varying offsets, in normalised units
    frame_noise: float = 0.005
    confidence_scale: float = 0.03  # confidence = exp(-|noise| / scale)


NO_CORRUPTION = Corruption(0.0, 0.0, 0.0, 0.0)


def random_camera(rng: np.random.Generator, elevation_deg=(-5.0, 25.0)) -> np.ndarray:
    """World -> camera rotation: any yaw around the subject, a modest elevation. Camera axes: x right, y up,
    z away from the camera."""
    yaw = rng.uniform(0, 2 * np.pi)
    el = np.deg2rad(rng.uniform(*elevation_deg))
    cy, sy, ce, se = np.cos(yaw), np.sin(yaw), np.cos(el), np.sin(el)
    R_yaw = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    R_el = np.array([[1, 0, 0], [0, ce, -se], [0, se, ce]])  # positive elevation looks down at the subject
    return R_el @ R_yaw


def project(joints: np.ndarray, R: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 3) world joints -> ((T, J, 3) camera-frame joints, (T, J, 2) image points at focal length 1)."""
    center = joints[:, 0].mean(0)
    cam = (joints - center) @ R.T
    cam[..., 2] += distance
    return cam, cam[..., :2] / cam[..., 2:3]


def body_normalize(uv: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, float]:
    """(T, J, 2) keypoints -> (keypoints centred on each frame's box and divided by the body's size, that size).

    The size is the median over frames of half the longer side of a frame's keypoint box: the body, not the ground
    it covers, sets the scale, so a walk across the picture looks like a walk in place to the model (a box around
    the whole window would shrink a travelling body). Frames with nothing seen take the nearest frames' centre."""
    T = uv.shape[0]
    any_seen = seen.any(1)
    if not any_seen.any():
        return np.zeros_like(uv), 1.0
    lo = np.where(seen[..., None], uv, np.inf).min(1)[any_seen]  # (T_seen, 2)
    hi = np.where(seen[..., None], uv, -np.inf).max(1)[any_seen]
    t = np.arange(T)
    center = np.stack([np.interp(t, t[any_seen], ((lo + hi) / 2)[:, k]) for k in range(2)], -1)
    scale = max(float(np.median((hi - lo).max(-1))) / 2, 1e-6)
    return (uv - center[:, None]) / scale, scale


def corrupt(uv: np.ndarray, rng: np.random.Generator, c: Corruption) -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 2) -> (noisy (T, J, 2), confidence (T, J)); masked joints get confidence 0."""
    T, J = uv.shape[:2]
    t = np.linspace(0, 1, T)[:, None, None]
    freq = rng.uniform(0.5, 2.0, size=(1, J, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(1, J, 2))
    noise = c.smooth_noise * rng.normal(size=(1, J, 2)) * np.sin(2 * np.pi * freq * t + phase)
    noise = noise + c.frame_noise * rng.normal(size=(T, J, 2))
    conf = np.exp(-np.linalg.norm(noise, axis=-1) / c.confidence_scale) if c.confidence_scale > 0 else np.ones((T, J))
    hidden = (rng.random((T, J)) < c.joint_mask) | (rng.random((T, 1)) < c.frame_mask)
    return uv + noise, np.where(hidden, 0.0, conf)


def lifting_pair(joints: np.ndarray, in_regressor: np.ndarray | None, rng: np.random.Generator,
                 corruption: Corruption, flip: bool, in_spec: SkeletonSpec, out_spec: SkeletonSpec,
                 distance: tuple[float, float] = (3.0, 8.0)) -> tuple[np.ndarray, np.ndarray, float]:
    """World joints (T, J_out, 3) -> (input (T, J_in, 3), target (T, J_out, 3), metres per target unit)."""
    R = random_camera(rng)
    height = max(float(np.ptp(joints[..., 1])), 0.2)
    # the camera stands back from the whole path, not just the middle of it: a clip that runs 8 m would otherwise
    # run through the camera (joints behind the image plane project to nonsense)
    reach = float(np.linalg.norm((joints - joints[:, :1].mean(0))[..., [0, 2]], axis=-1).max())
    dist = rng.uniform(*distance) * height + reach
    cam, _ = project(joints, R, dist)
    if flip:  # mirror the scene: x -> -x and swap left and right
        cam = out_spec.mirror(cam)
    src = cam if in_regressor is None else np.einsum("ij,tjc->tic", in_regressor, cam)
    uv = src[..., :2] / src[..., 2:3]
    # the corruption's sizes are in body-normalised units, so a far-away body is not drowned in noise
    uv_norm, scale = body_normalize(uv, np.ones(uv.shape[:2], bool))
    uv_noisy, conf = corrupt(uv_norm, rng, corruption)
    x = np.concatenate([np.where(conf[..., None] > 0, uv_noisy, 0.0), conf[..., None]], axis=-1)
    z0 = float(cam[:, 0, 2].mean())
    target = (cam - cam[:, :1]) / (z0 * scale)  # image units at the root's depth, then the body scale
    return x.astype(np.float32), target.astype(np.float32), z0 * scale


class LiftingDataset(torch.utils.data.Dataset):
    """Random windows of 3D clips turned into (2D input, 3D target) pairs, fresh camera and noise per visit."""

    def __init__(self, clips: list[np.ndarray], in_spec: SkeletonSpec, out_spec: SkeletonSpec,
                 in_regressor: np.ndarray | None, window: int, corruption: Corruption = Corruption(),
                 flip: bool = True):
        self.clips = [c for c in clips if len(c) >= 2]
        self.in_spec, self.out_spec, self.reg = in_spec, out_spec, in_regressor
        self.window, self.corruption, self.flip = window, corruption, flip

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index) -> dict:
        i, rng = item_rng(index)
        clip = self.clips[i]
        n = min(len(clip), self.window)
        start = int(rng.integers(0, len(clip) - n + 1))
        x, y, unit = lifting_pair(clip[start:start + n], self.reg, rng, self.corruption,
                                  self.flip and rng.random() < 0.5, self.in_spec, self.out_spec)
        pad = self.window - n
        mask = np.arange(self.window) < n
        x = np.pad(x, ((0, pad), (0, 0), (0, 0)))
        y = np.pad(y, ((0, pad), (0, 0), (0, 0)))
        return {"input": torch.from_numpy(x), "target": torch.from_numpy(y), "mask": torch.from_numpy(mask),
                "unit": unit}


def window_overlap(window: int, overlap: int | None = None) -> int:
    """Frames shared by neighbouring windows: `overlap` if given, else a quarter of the window."""
    return window // 4 if overlap is None else overlap


def window_starts(T: int, window: int, overlap: int) -> list[int]:
    """Start frames of windows covering 0..T with at least `overlap` frames shared by neighbours."""
    if T <= window:
        return [0]
    step = window - overlap
    starts = list(range(0, T - window, step)) + [T - window]
    return sorted(set(starts))


@torch.no_grad()
def lift_sequence(model, x: torch.Tensor, window: int, overlap: int | None = None, flip: bool = True) -> torch.Tensor:
    """(T, J_in, 3) normalised input of any length -> (T, J_out, 3) in the input's units: overlapping windows,
    blended with weights that fall smoothly to ~0 at each window's edges, so no seam shows a jump.

    Each window is first re-normalised as the training windows were (`body_normalize`: however the input was
    scaled, by the image or a long clip's box, the model sees a body of the size it was trained on). The model
    answers in units of the body's size, so every window's output is scaled back by one factor, the whole
    sequence's body scale, not by its own window's: a body walking away from the camera shrinks in the picture,
    but not in 3D (scaled by each window's image size, it shrank in the output too; on the zoo people test split
    that cost 4 mm of MPJPE). `overlap` defaults to a quarter of the window; `flip` averages with the mirrored
    input's prediction (Lifter.predict)."""
    T = x.shape[0]
    overlap = window_overlap(window, overlap)
    starts = window_starts(T, window, overlap)
    weight = torch.zeros(T, 1, 1, dtype=x.dtype, device=x.device)
    n = min(T, window)
    ramp = torch.ones(n, dtype=x.dtype, device=x.device)
    if len(starts) > 1 and overlap > 0:
        k = min(overlap, n // 2)
        edge = 0.5 - 0.5 * torch.cos(torch.linspace(0, np.pi, k + 2, dtype=x.dtype, device=x.device)[1:-1])
        ramp[:k], ramp[n - k:] = edge, edge.flip(0)
    seen_all = (x[..., 2] > 0).cpu().numpy()
    _, body_scale = body_normalize(x[..., :2].cpu().double().numpy(), seen_all)
    windows = []
    for s in starts:
        w = x[s:s + n].clone()
        uv, _ = body_normalize(w[..., :2].cpu().double().numpy(), seen_all[s:s + n])
        w[..., :2] = torch.where(w[..., 2:] > 0, torch.from_numpy(uv).to(w), torch.zeros_like(w[..., :2]))
        windows.append(w)
    pred = model.predict(torch.stack(windows), flip=flip) * body_scale  # (N, n, J_out, 3)
    out = torch.zeros(T, pred.shape[2], 3, dtype=pred.dtype, device=pred.device)
    for k, s in enumerate(starts):
        w = ramp.clone()
        if s == 0:
            w[: n // 2] = 1.0  # the sequence's own ends are not seams
        if s + n == T:
            w[n // 2:] = 1.0
        out[s:s + n] += pred[k] * w[:, None, None]
        weight[s:s + n] += w[:, None, None]
    return out / weight.clamp_min(1e-8)
