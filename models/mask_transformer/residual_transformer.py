"""MoMask's residual transformer: predicts code layer j (1 <= j < Q) from the sum of the code embeddings of the
layers below it, told which layer it predicts by a learned layer embedding. Trained on a random layer per sample;
with `tie_output` the logits of layer j are scores against layer j's own code embeddings (MoMask's shared weights).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import Checkpointable
from models.mask_transformer.backbone import Backbone, TransformerConfig, guided

KIND = "residual_transformer"


@dataclass
class ResidualTransformerConfig(TransformerConfig):
    tie_output: bool = True


class ResidualTransformer(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, ResidualTransformerConfig

    def __init__(self, config: ResidualTransformerConfig):
        super().__init__()
        self.config = config
        Q, K, C = config.num_quantizers, config.num_tokens, config.code_dim
        if Q < 2:
            raise ValueError("a residual transformer needs a tokenizer with at least 2 code layers")
        self.code_emb = nn.Parameter(torch.randn(Q, K, C) * 0.02)  # layer q's code embeddings
        self.input = nn.Linear(C, config.latent_dim)
        self.layer_emb = nn.Embedding(Q, config.latent_dim)
        self.backbone = Backbone(config)
        if config.tie_output:
            self.out = nn.Linear(config.latent_dim, C)
        else:
            self.heads = nn.Parameter(torch.randn(Q, K, config.latent_dim) * 0.02)
        self.out_bias = nn.Parameter(torch.zeros(Q, K))

    @torch.no_grad()
    def init_code_embeddings(self, codebooks: torch.Tensor) -> None:
        """Start the code embeddings from the tokenizer's codebooks (Q, K, code_dim): the sum over the layers below
        j is then the tokenizer's own partial latent, and the tied output scores against layer j's code vectors."""
        if codebooks.shape != self.code_emb.shape:
            raise ValueError(f"codebooks of shape {tuple(codebooks.shape)} do not fit this model's code embeddings "
                             f"{tuple(self.code_emb.shape)} (its code_dim must be the tokenizer's)")
        self.code_emb.copy_(codebooks)

    def embed_below(self, codes: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
        """codes (B, N, Q) (-1 on padding), layer (B,) -> (B, N, C) sum of the embeddings of layers < layer."""
        out = codes.new_zeros(*codes.shape[:2], self.config.code_dim, dtype=self.code_emb.dtype)
        for q in range(self.config.num_quantizers - 1):  # a layer <= Q - 1 is predicted: the top one never counts
            use = (q < layer)[:, None] & (codes[..., q] >= 0)  # (B, N)
            # one (B, N, C) lookup per layer: 5x faster than gathering all Q layers at once and masking (B, N, Q, C)
            out = out + F.embedding(codes[..., q].clamp_min(0), self.code_emb[q]) * use[..., None].to(out.dtype)
        return out

    def forward(self, codes: torch.Tensor, layer: torch.Tensor, cond: dict[str, torch.Tensor],
                valid: torch.Tensor, drop: torch.Tensor | None = None) -> torch.Tensor:
        """-> logits (B, N, K) for code layer `layer` (B,) given the codes below it."""
        h = self.input(self.embed_below(codes, layer)) + self.layer_emb(layer)[:, None]
        h = self.backbone(h, cond, valid, drop)
        if self.config.tie_output:
            h, table = self.out(h), self.code_emb  # scores against the predicted layer's own code embeddings
        else:
            table = self.heads
        if bool((layer == layer[0]).all()):  # one layer for the whole batch (generation): one (B N, C) x (C, K) matmul
            logits = h @ table[layer[0]].to(h.dtype).T
        else:  # training: a layer per sample
            logits = torch.einsum("bnc,bkc->bnk", h, table[layer].to(h.dtype))
        return logits + self.out_bias[layer][:, None].to(logits.dtype)  # (B, N, K)

    def guided_logits(self, codes: torch.Tensor, layer: int, cond: dict[str, torch.Tensor], valid: torch.Tensor,
                      scale: float) -> torch.Tensor:
        layers = torch.full((codes.shape[0],), layer, dtype=torch.long, device=codes.device)
        return guided(lambda c, l, v, cd, d: self(c, l, cd, v, d), cond, scale, codes, layers, valid,
                      kept=self.backbone.cond.kept)

    def loss(self, codes: torch.Tensor, cond: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """codes (B, N, Q), -1 on padding -> (cross-entropy of a random layer j >= 1 per sample, logs)."""
        valid = codes[..., 0] >= 0
        B = codes.shape[0]
        layer = torch.randint(1, self.config.num_quantizers, (B,), device=codes.device)
        drop = torch.rand(B, device=codes.device) < self.config.cond_drop_prob if self.training else None
        logits = self(codes, layer, cond, valid, drop)
        target = codes.gather(2, layer[:, None, None].expand(-1, codes.shape[1], 1))[..., 0].masked_fill(~valid, -100)
        loss = F.cross_entropy(logits.float().transpose(1, 2), target, ignore_index=-100)
        acc = (logits.argmax(-1) == target)[valid].float().mean()
        return loss, {"ce": loss.item(), "acc": acc.item()}
