"""MoMask's cosine masking schedule, as a small weightless object shared by training and decoding.

Training masks round(N * cos(pi t / 2)) of a motion's N tokens (at least one) for t ~ U(0, 1).
Decoding starts from all-[MASK] and runs `steps` iterations at t = 0 ... 1; at each it re-masks the
round(N * cos(pi t / 2)) least-confident of the tokens still open (at least one) and predicts them again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class CosineMaskSchedule:
    min_masked: int = 1

    @staticmethod
    def mask_ratio(t: torch.Tensor | float) -> torch.Tensor:
        """Share of tokens masked at time t in [0, 1]: 1 at t = 0, 0 at t = 1."""
        return torch.cos(torch.as_tensor(t, dtype=torch.float64) * math.pi / 2)

    def num_masked(self, t: torch.Tensor | float, lengths: torch.Tensor) -> torch.Tensor:
        """(B,) token counts -> (B,) how many to mask at time t (scalar or (B,)), never more than the length."""
        n = torch.round(self.mask_ratio(t).to(lengths.device) * lengths).long()
        return torch.minimum(n.clamp_min(self.min_masked), lengths)

    def timesteps(self, steps: int) -> torch.Tensor:
        """The decoding times: `steps` values from 0 to 1."""
        if steps < 1:
            raise ValueError(f"the number of decoding steps must be at least 1, got {steps}")
        return torch.linspace(0, 1, steps, dtype=torch.float64) if steps > 1 else torch.zeros(1, dtype=torch.float64)
