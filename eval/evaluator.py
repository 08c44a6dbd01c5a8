"""The text-motion evaluator behind FID, R-precision, MM-Dist, Diversity and MultiModality.

Motion side: a DSTformer over joint positions recovered from the features (each joint relative to the root's
ground point, plus the root's ground trajectory), pooled over real frames and joints, projected to the shared
space. Text side: the frozen sentence encoder plus a projection. Trained contrastively (InfoNCE, as TMR), with
negatives whose captions are near-identical to the positive's left out of the softmax. It never sees the species
label as input: the species has to be read from the motion. On data with several species, training may add a
species classifier on the motion embedding (a training signal only; many captions never name the species).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import Checkpointable
from models.dstformer import DST_CONFIGS, DSTformer, DSTformerConfig
from models.text_encoder import TEXT_ENCODER_DIMS
from utils.features import recover_joints
from utils.skeleton import SkeletonSpec, get_skeleton

KIND = "evaluator"


@dataclass
class EvaluatorConfig:
    skeleton: str | dict = "animo30"
    backbone: str = "small"  # a DST_CONFIGS name
    embed_dim: int = 256
    frame_stride: int = 4  # the motion is read at 5 fps: enough for what a caption says, 16x cheaper attention
    text_encoder: str = "minilm"
    temperature: float = 0.07
    negative_filter: float = 0.9  # captions at least this similar (frozen text cosine) are not negatives
    dst: dict = field(default_factory=dict)  # overrides of the backbone config
    species: list[str] = field(default_factory=list)  # training species for the auxiliary classifier (>= 2)

    @property
    def spec(self) -> SkeletonSpec:
        return SkeletonSpec.from_dict(self.skeleton) if isinstance(self.skeleton, dict) else get_skeleton(self.skeleton)


def motion_input(joints: torch.Tensor, stride: int = 1, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, J, 3) canonical joints at the data's frame rate -> (B, ceil(T / stride), J, 6): every stride-th
    frame's position relative to the root's ground point, the root's x and z, and each joint's mean speed (m per
    frame) over the stride's frames (reading every k-th frame alone would alias a fast gait's cycle). With
    `lengths` (B,), steps into padding count as still."""
    root_ground = joints[..., :1, :] * torch.tensor([1.0, 0.0, 1.0], device=joints.device, dtype=joints.dtype)
    traj = joints[..., :1, [0, 2]].expand(*joints.shape[:-1], 2)
    T = joints.shape[1]
    step = (joints[:, 1:] - joints[:, :-1]).norm(dim=-1)  # (B, T-1, J)
    if lengths is not None:
        real = torch.arange(T - 1, device=joints.device)[None] < lengths.to(joints.device)[:, None] - 1
        step = step * real[..., None]
    # the last frame takes no step; pad to whole strides, then average each stride's frames
    speed = F.pad(step, (0, 0, 0, 1 + -T % stride)).unflatten(1, (-1, stride)).mean(2)  # (B, ceil(T/s), J)
    return torch.cat([(joints - root_ground)[:, ::stride], traj[:, ::stride], speed[..., None]], dim=-1)


class TextMotionEvaluator(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, EvaluatorConfig

    def __init__(self, config: EvaluatorConfig):
        super().__init__()
        self.config = config
        self.spec = config.spec
        base = DST_CONFIGS[config.backbone]
        dst_cfg = DSTformerConfig(**{**asdict(base), "dim_in": 6, "dim_out": 1, "num_joints": self.spec.num_joints,
                                     **config.dst})
        self.motion_encoder = DSTformer(dst_cfg)
        self.motion_proj = nn.Sequential(nn.Linear(dst_cfg.dim_rep, dst_cfg.dim_rep), nn.GELU(),
                                         nn.Linear(dst_cfg.dim_rep, config.embed_dim))
        text_dim = TEXT_ENCODER_DIMS[config.text_encoder]
        self.text_proj = nn.Sequential(nn.Linear(text_dim, text_dim), nn.GELU(), nn.Linear(text_dim, config.embed_dim))
        self.species_head = nn.Linear(config.embed_dim, len(config.species)) if len(config.species) > 1 else None

    @property
    def max_frames(self) -> int:
        return self.motion_encoder.config.maxlen * self.config.frame_stride

    def encode_motion(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Unnormalised features (B, T, D) + lengths (B,) -> unit embeddings (B, E)."""
        s = self.config.frame_stride
        x = motion_input(recover_joints(features, self.spec), s, lengths)  # (B, T/s, J, 6)
        T = x.shape[1]
        if T > self.motion_encoder.config.maxlen:
            raise ValueError(f"motions longer than {self.max_frames} frames cannot be evaluated; crop them")
        mask = torch.arange(T, device=features.device)[None] < ((lengths.to(features.device) + s - 1) // s)[:, None]
        rep = self.motion_encoder.representation(x, mask)  # (B, T', J, R)
        w = mask[:, :, None, None].to(rep.dtype)
        pooled = (rep * w).sum((1, 2)) / (w.sum((1, 2)) * rep.shape[2])
        return F.normalize(self.motion_proj(pooled), dim=-1)

    def species_logits(self, motion_emb: torch.Tensor) -> torch.Tensor:
        """Unit motion embeddings (B, E) -> (B, S) species logits, sharpened by the contrastive temperature (a
        linear map of a unit vector alone stays too flat to be confident)."""
        return self.species_head(motion_emb) / self.config.temperature

    def species_loss(self, motion_emb: torch.Tensor, species: list[str]) -> torch.Tensor:
        """Cross-entropy of the species classifier on unit motion embeddings (B, E); species outside the
        training vocabulary are ignored."""
        if self.species_head is None:
            raise ValueError("this evaluator has no species classifier (its config lists fewer than 2 species)")
        names = self.config.species
        target = torch.tensor([names.index(s) if s in names else -100 for s in species], device=motion_emb.device)
        logits = self.species_logits(motion_emb)
        if not (target >= 0).any():
            return logits.sum() * 0.0
        return F.cross_entropy(logits, target, ignore_index=-100)

    def encode_text(self, text_features: torch.Tensor) -> torch.Tensor:
        """Frozen sentence embeddings (B, text_dim) -> unit embeddings (B, E)."""
        return F.normalize(self.text_proj(text_features), dim=-1)

    def contrastive_loss(self, motion_emb: torch.Tensor, text_emb: torch.Tensor,
                         text_features: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE; pairs whose captions are near-identical are removed from the negatives."""
        logits = motion_emb @ text_emb.T / self.config.temperature  # (B, B)
        with torch.no_grad():
            tf = F.normalize(text_features, dim=-1)
            same = (tf @ tf.T) >= self.config.negative_filter
            same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
        target = torch.arange(len(logits), device=logits.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
