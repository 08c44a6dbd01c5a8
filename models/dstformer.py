"""DSTformer (MotionBERT, ICCV 2023): a dual-stream spatio-temporal transformer over (B, T, J, C) joint sequences.

Each depth level runs two streams on the same input, spatial-then-temporal and temporal-then-spatial, and fuses
them per frame and joint with softmax weights regressed from both (initialised to an even split). The output is a
per-joint motion representation (Linear + tanh) and a linear head. Generic in J and C; T <= maxlen.
Used twice here: 2D-to-3D lifting (head -> 3D) and the evaluator's motion encoder (pooled representation).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from einops import rearrange
from torch import nn

from models.checkpoint import Checkpointable
from models.layers import attention

KIND = "dstformer"


@dataclass
class DSTformerConfig:
    dim_in: int = 3  # x, y, confidence for lifting; 3 for 3D joints
    dim_out: int = 3
    num_joints: int = 17
    dim_feat: int = 512
    dim_rep: int = 512
    depth: int = 5
    num_heads: int = 8
    mlp_ratio: float = 2.0
    maxlen: int = 243
    dropout: float = 0.0
    drop_path: float = 0.0


DST_CONFIGS: dict[str, DSTformerConfig] = {
    "full": DSTformerConfig(),  # MotionBERT: ~42M parameters
    "lite": DSTformerConfig(dim_feat=256, mlp_ratio=4.0),
    "cpu": DSTformerConfig(dim_feat=64, dim_rep=128, depth=3, num_heads=4, mlp_ratio=2.0),  # trains on 2 cores
    # the evaluator's motion encoder: ~4x cheaper than "cpu", so it sees enough text-motion pairs in an hour
    "small": DSTformerConfig(dim_feat=32, dim_rep=64, depth=2, num_heads=4, mlp_ratio=2.0),
    "tiny": DSTformerConfig(dim_feat=16, dim_rep=16, depth=1, num_heads=2, mlp_ratio=2.0),  # tests
}


def create_dstformer(name: str, **overrides) -> "DSTformer":
    if name not in DST_CONFIGS:
        raise ValueError(f"unknown DSTformer config {name!r}; registered: {sorted(DST_CONFIGS)}")
    return DSTformer(replace(DST_CONFIGS[name], **overrides))


class Attention(nn.Module):
    """Multi-head self-attention over one axis of (B, T, J, C): 'spatial' mixes joints, 'temporal' mixes frames."""

    def __init__(self, dim: int, heads: int, mode: str, dropout: float):
        super().__init__()
        self.heads, self.mode, self.dropout = heads, mode, dropout
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        B, T, J, C = x.shape
        if self.mode == "spatial":  # (B*T, h, J, c): joints attend within a frame
            q, k, v = rearrange(self.qkv(x), "b t j (three h c) -> three (b t) h j c", three=3, h=self.heads)
        else:  # (B*J, h, T, c): frames attend within a joint
            q, k, v = rearrange(self.qkv(x), "b t j (three h c) -> three (b j) h t c", three=3, h=self.heads)
        attn_mask = None
        if self.mode == "temporal" and frame_mask is not None:
            attn_mask = frame_mask.repeat_interleave(J, dim=0)[:, None, None, :]  # (B*J, 1, 1, T) keys
        out = attention(q, k, v, attn_mask, self.dropout if self.training else 0.0)  # (N, h, L, c)
        if self.mode == "spatial":
            out = rearrange(out, "(b t) h j c -> b t j (h c)", b=B)
        else:
            out = rearrange(out, "(b j) h t c -> b t j (h c)", b=B)
        return self.proj(out)


class DropPath(nn.Module):
    """Stochastic depth: drop a whole residual branch per sample."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.rand(x.shape[0], *([1] * (x.ndim - 1)), device=x.device) >= self.p
        return x * keep / (1 - self.p)


class Stream(nn.Module):
    """Two pre-norm attention + MLP stages, in the order 'st' (spatial first) or 'ts'."""

    def __init__(self, cfg: DSTformerConfig, order: str, drop_path: float):
        super().__init__()
        modes = ["spatial", "temporal"] if order == "st" else ["temporal", "spatial"]
        hidden = int(cfg.dim_feat * cfg.mlp_ratio)
        self.attn = nn.ModuleList(Attention(cfg.dim_feat, cfg.num_heads, m, cfg.dropout) for m in modes)
        self.mlp = nn.ModuleList(nn.Sequential(nn.Linear(cfg.dim_feat, hidden), nn.GELU(), nn.Dropout(cfg.dropout),
                                               nn.Linear(hidden, cfg.dim_feat)) for _ in modes)
        self.norms = nn.ModuleList(nn.LayerNorm(cfg.dim_feat) for _ in range(4))
        self.drop = DropPath(drop_path)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None) -> torch.Tensor:
        for i, (attn, mlp) in enumerate(zip(self.attn, self.mlp)):
            x = x + self.drop(attn(self.norms[2 * i](x), frame_mask))
            x = x + self.drop(mlp(self.norms[2 * i + 1](x)))
        return x


class DSTformer(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, DSTformerConfig

    def __init__(self, config: DSTformerConfig):
        super().__init__()
        self.config = c = config
        self.joints_embed = nn.Linear(c.dim_in, c.dim_feat)
        self.pos_embed = nn.Parameter(torch.randn(1, 1, c.num_joints, c.dim_feat) * 0.02)  # spatial
        self.temp_embed = nn.Parameter(torch.randn(1, c.maxlen, 1, c.dim_feat) * 0.02)  # temporal
        rates = torch.linspace(0, c.drop_path, c.depth).tolist()
        self.st = nn.ModuleList(Stream(c, "st", r) for r in rates)
        self.ts = nn.ModuleList(Stream(c, "ts", r) for r in rates)
        self.fuse = nn.ModuleList(nn.Linear(2 * c.dim_feat, 2) for _ in rates)
        for f in self.fuse:  # an even split of the two streams at the start (MotionBERT)
            nn.init.zeros_(f.weight)
            nn.init.constant_(f.bias, 0.5)
        self.norm = nn.LayerNorm(c.dim_feat)
        self.pre_logits = nn.Sequential(nn.Linear(c.dim_feat, c.dim_rep), nn.Tanh())
        self.head = nn.Linear(c.dim_rep, c.dim_out)

    def representation(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, J, C) -> (B, T, J, dim_rep); frame_mask (B, T) True on real frames."""
        c = self.config
        B, T, J, C = x.shape
        if J != c.num_joints or C != c.dim_in:
            raise ValueError(f"this DSTformer takes (B, T, {c.num_joints}, {c.dim_in}) inputs, got {tuple(x.shape)}")
        if T > c.maxlen:
            raise ValueError(f"sequence of {T} frames is longer than maxlen {c.maxlen}; cut it into windows")
        h = self.joints_embed(x) + self.pos_embed + self.temp_embed[:, :T]
        for st, ts, fuse in zip(self.st, self.ts, self.fuse):
            a, b = st(h, frame_mask), ts(h, frame_mask)
            alpha = fuse(torch.cat([a, b], dim=-1)).softmax(dim=-1)  # (B, T, J, 2)
            h = a * alpha[..., :1] + b * alpha[..., 1:]
        return self.pre_logits(self.norm(h))

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, J, C) -> (B, T, J, dim_out)."""
        return self.head(self.representation(x, frame_mask))
