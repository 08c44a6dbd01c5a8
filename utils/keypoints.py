"""2D keypoint sequences from video pose detectors: read, check, normalise.

Accepted inputs:
- a .npy array (T, J, 2) or (T, J, 3) (x, y[, score]) in pixels;
- a COCO-17 JSON as detectors write it: a list of frames (or {"frames": [...]}) where each frame is
  {"keypoints": [x1, y1, s1, x2, ...]} (51 numbers, or 17 [x, y, s] triples, or 17 [x, y] pairs with an optional
  "keypoint_scores" list), or a list of such people (the most confident one is taken), or an empty list / null for a
  frame with no detection. MMPose's {"instance_info": [{"instances": [...]}]} is read too.
Missing scores are taken as 1 (with a warning); frames without a detection and NaN joints get score 0 and are
masked downstream, never propagated.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np


class KeypointError(ValueError):
    """Keypoints that cannot be used; the message names the input and the fix."""


def _person(entry, where: str) -> np.ndarray | None:
    """One detection -> (17, 3), or None for 'no detection'."""
    scores = None
    if isinstance(entry, dict):
        if "keypoints" not in entry:
            raise KeypointError(f"{where}: a detection needs a 'keypoints' field")
        entry, scores = entry["keypoints"], entry.get("keypoint_scores")
    arr = np.asarray(entry if entry is not None else [], dtype=np.float64)
    if arr.size == 0:
        return None
    if arr.size == 51:
        return arr.reshape(17, 3)
    if arr.size == 34:
        s = np.asarray(scores, dtype=np.float64).reshape(17, 1) if scores is not None else np.full((17, 1), np.nan)
        return np.concatenate([arr.reshape(17, 2), s], axis=1)
    raise KeypointError(f"{where}: expected 17 COCO keypoints [x, y, score] (51 numbers), got {arr.size} numbers")


def _is_detection(x) -> bool:
    return isinstance(x, dict) or (isinstance(x, list) and np.asarray(x, dtype=object).size in (34, 51))


def _frame(entry, where: str) -> np.ndarray:
    """A frame: one detection, a list of detections (take the most confident) or nothing -> (17, 3)."""
    if isinstance(entry, dict) and "instances" in entry:
        entry = entry["instances"]
    if isinstance(entry, list) and entry and _is_detection(entry[0]):  # several people
        found = [_person(e, f"{where} person {k}") for k, e in enumerate(entry)]
    else:
        found = [_person(entry, where)]
    people = [p for p in found if p is not None]
    if not people:
        return np.full((17, 3), np.nan)
    return max(people, key=lambda p: np.nanmean(p[:, 2]) if np.isfinite(p[:, 2]).any() else 0.0)


def read_keypoints(path: str | Path) -> np.ndarray:
    """-> (T, J, 3) float64: x, y in pixels and a score (NaN where the input had none)."""
    path = Path(path)
    if not path.is_file():
        raise KeypointError(f"{path}: keypoint file does not exist")
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False).astype(np.float64)
        if arr.ndim != 3 or arr.shape[-1] not in (2, 3):
            raise KeypointError(f"{path}: keypoints must be (T, J, 2) or (T, J, 3), got {arr.shape}")
        if arr.shape[-1] == 2:
            arr = np.concatenate([arr, np.full(arr.shape[:2] + (1,), np.nan)], axis=-1)
        return arr
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise KeypointError(f"{path}: malformed JSON ({e.msg} at line {e.lineno})") from None
    if isinstance(data, dict):
        data = data.get("frames", data.get("instance_info"))
    if not isinstance(data, list):
        raise KeypointError(f"{path}: expected a list of frames (or {{'frames': [...]}}) of COCO-17 keypoints")
    if not data:
        raise KeypointError(f"{path}: holds no frames")
    return np.stack([_frame(f, f"{path} frame {t}") for t, f in enumerate(data)])


def clean_keypoints(kp: np.ndarray, num_joints: int, where: str = "keypoints") -> np.ndarray:
    """Check the joint count, fill missing scores with 1 (warning), zero and mask NaN joints. -> (T, J, 3)."""
    kp = np.asarray(kp, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[-1] not in (2, 3):
        raise KeypointError(f"{where}: expected (T, J, 2) or (T, J, 3), got {kp.shape}")
    if kp.shape[1] != num_joints:
        raise KeypointError(f"{where}: {kp.shape[1]} joints per frame, the model takes {num_joints} "
                            f"(COCO-17 detections are converted to h36m17 with --layout coco17)")
    if kp.shape[-1] == 2:
        kp = np.concatenate([kp, np.full(kp.shape[:2] + (1,), np.nan)], axis=-1)
    kp = kp.copy()
    no_score = np.isnan(kp[..., 2]) & np.isfinite(kp[..., :2]).all(-1)
    if no_score.any():
        warnings.warn(f"{where}: {int(no_score.sum())} keypoints have no confidence score; assuming 1",
                      stacklevel=2)
        kp[..., 2][no_score] = 1.0
    missing = ~np.isfinite(kp).all(-1)
    kp[missing] = 0.0  # masked: zero position and zero confidence
    if missing.all():
        raise KeypointError(f"{where}: no joint was detected in any frame")
    return kp


def normalize_keypoints(kp: np.ndarray, image_size: tuple[float, float] | None = None) -> tuple[np.ndarray, dict]:
    """(T, J, 3) pixels -> (T, J, 3) with x, y in about [-1, 1] (y up) and how to undo it.

    With image_size = (width, height): MotionBERT's screen normalisation (divide by width). Without: by the
    sequence's keypoint box (centre, half the longer side), MotionBERT's in-the-wild setting.
    """
    kp = kp.copy()
    seen = kp[..., 2] > 0
    if image_size is not None:
        w, h = image_size
        if not (w > 0 and h > 0):
            raise KeypointError(f"image size must be positive, got {w} x {h}")
        center, scale = np.array([w / 2, h / 2]), w / 2
    else:
        pts = kp[..., :2][seen]
        lo, hi = pts.min(0), pts.max(0)
        center, scale = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1e-6)
    xy = (kp[..., :2] - center) / scale
    xy[..., 1] *= -1  # image y points down; ours up
    kp[..., :2] = np.where(seen[..., None], xy, 0.0)
    return kp, {"center": center.tolist(), "scale": scale}
