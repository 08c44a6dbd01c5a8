"""Motion <-> codes for users: any length, features or joints, unnormalised numpy in and out.

The RVQ-VAE needs lengths that are multiples of 4 frames. `encode` pads the end by repeating the last frame and
records the true length; `decode` crops back to it. Codes are (T_pad / 4, Q) int64. A tokenizer with the body
condition also returns the clip's body (its log bone lengths); `decode` given it restores the clip's proportions.
Every encoding also returns the clip's rest skeleton (`offsets`); `decode` given them refits the decoded joints to
that rigid body (`utils.features.fit_to_skeleton`): each bone keeps its length, only the posture is decoded.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from models.text_encoder import condition_texts, load_text_encoder
from models.vq.rvqvae import RVQVAE
from utils.features import fit_to_skeleton, joints_to_features, recover_joints
from utils.kinematics import estimate_offsets


@dataclass
class Encoded:
    codes: np.ndarray  # (T_pad / 4, Q) int64
    frames: int  # length of the motion before padding, in feature frames
    species: str
    gender: str
    body: np.ndarray | None = None  # (J-1,) float32 log bone lengths over the rest lengths (RVQVAE.body_of)
    offsets: np.ndarray | None = None  # (J, 3) float32 the clip's rest skeleton (utils.kinematics.estimate_offsets)


class MotionCodec:
    def __init__(self, model: RVQVAE, device: str | torch.device | None = None, text_encoder_path: str | None = None):
        self.device = torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.to(self.device).eval()
        self.spec = model.spec
        self.unit = model.frames_per_token
        self.text = load_text_encoder(model.config.text_encoder, path=text_encoder_path, device=self.device)

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str | torch.device | None = None) -> "MotionCodec":
        return cls(RVQVAE.load(path), device)

    def features(self, motion: np.ndarray) -> np.ndarray:
        """(T, D) features or (T, J, 3) joints -> checked (T, D) float32 features for this tokenizer's skeleton."""
        motion = np.asarray(motion)
        spec = self.spec
        if motion.ndim == 3:
            if motion.shape[1:] != (spec.num_joints, 3):
                raise ValueError(f"joints have shape {motion.shape}; this tokenizer's skeleton {spec.name!r} needs "
                                 f"(T, {spec.num_joints}, 3)")
            motion = joints_to_features(motion, spec)[0]  # checks for NaN / Inf itself
        elif motion.ndim != 2 or motion.shape[1] != spec.feature_dim:
            raise ValueError(f"features have shape {motion.shape}; this tokenizer's skeleton {spec.name!r} needs "
                             f"(T, {spec.feature_dim}) features or (T, {spec.num_joints}, 3) joints")
        if not np.isfinite(motion).all():
            raise ValueError("the motion contains NaN or Inf values")
        if len(motion) < self.unit:
            raise ValueError(f"the motion has {len(motion)} frames, shorter than one token ({self.unit} frames)")
        return motion.astype(np.float32)

    def _cond(self, species: list[str], genders: list[str]) -> torch.Tensor:
        return self.text(condition_texts(species, genders))

    @torch.no_grad()
    def encode(self, motion: np.ndarray, species: str, gender: str) -> Encoded:
        x = self.features(motion)
        frames = len(x)
        pad = (-frames) % self.unit
        x = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
        xt = self.model.normalize(torch.from_numpy(x).to(self.device))[None]
        codes = self.model.encode(xt, self._cond([species], [gender]))[0]
        body = self.model.body_of(xt)
        body = None if body is None else body[0].cpu().numpy().astype(np.float32)
        offsets = estimate_offsets(self.spec, recover_joints(x[:frames], self.spec)).astype(np.float32)
        return Encoded(codes.cpu().numpy().astype(np.int64), frames, species, gender, body, offsets)

    @torch.no_grad()
    def decode(self, codes: np.ndarray, species: str, gender: str, frames: int | None = None,
               num_layers: int | None = None, body: np.ndarray | None = None,
               offsets: np.ndarray | None = None) -> np.ndarray:
        """(T', Q) codes -> (frames or T' * 4, D) unnormalised features; `body` and `offsets` as in `Encoded`."""
        codes = np.asarray(codes)
        Q = self.model.config.num_quantizers
        if codes.ndim != 2 or codes.shape[1] != Q or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError(f"codes must be an integer array of shape (T / {self.unit}, {Q}), got {codes.dtype} "
                             f"{codes.shape}")
        if frames is not None and not 0 < frames <= len(codes) * self.unit:
            raise ValueError(f"frames={frames} does not fit {len(codes)} tokens ({len(codes) * self.unit} frames)")
        c = torch.from_numpy(codes.astype(np.int64)).to(self.device)[None]
        if body is not None:
            body = torch.as_tensor(np.asarray(body, dtype=np.float32), device=self.device)[None]
        x = self.model.decode(c, self._cond([species], [gender]), num_layers=num_layers, body=body)
        x = self.model.denormalize(x)[0][:frames].cpu().numpy()
        return x if offsets is None else fit_to_skeleton(x, self.spec, offsets)

    def decode_joints(self, codes: np.ndarray, species: str, gender: str, frames: int | None = None,
                      body: np.ndarray | None = None, offsets: np.ndarray | None = None) -> np.ndarray:
        return recover_joints(self.decode(codes, species, gender, frames, body=body, offsets=offsets), self.spec)
