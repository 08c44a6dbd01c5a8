"""MoMask's masked transformer: predicts the tokenizer's base-layer codes from a partly masked sequence.

Training (MoMask): t ~ U(0, 1), mask round(N cos(pi t / 2)) tokens (at least one); of those, 10% get a random
code, 88% of the rest get [MASK], the others keep their code; cross-entropy on the chosen positions only.
The condition tokens (or only the text's, with cond_drop "text") are replaced by the learned "no condition" with
probability cond_drop_prob (for CFG).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import Checkpointable
from models.mask_transformer.backbone import Backbone, TransformerConfig, guided
from models.mask_transformer.scheduler import CosineMaskSchedule

KIND = "mask_transformer"
RANDOM_TOKEN_SHARE = 0.1
MASK_TOKEN_SHARE = 0.88


@dataclass
class MaskTransformerConfig(TransformerConfig):
    pass


# Named sizes; the tokenizer's codebook and the text encoder are filled in when a model is created.
T2M_CONFIGS: dict[str, dict] = {
    # MoMask's released size: latent 384, 8 layers, 6 heads, ff 1024, dropout 0.2
    "momask": dict(code_dim=512, latent_dim=384, ff_dim=1024, layers=8, heads=6, dropout=0.2),
    # sized so that the masked and the residual transformer of both zoo data sets train on 2 CPU cores in 90 minutes
    "cpu": dict(code_dim=256, latent_dim=256, ff_dim=512, layers=4, heads=4, dropout=0.1),
    # for tests
    "tiny": dict(code_dim=16, latent_dim=32, ff_dim=64, layers=1, heads=2, dropout=0.0),
}


def transformer_config(config_class, name: str, **fields):
    if name not in T2M_CONFIGS:
        raise ValueError(f"unknown transformer config {name!r}; registered: {sorted(T2M_CONFIGS)}")
    return replace(config_class(), **{**T2M_CONFIGS[name], **fields})


class MaskTransformer(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, MaskTransformerConfig

    def __init__(self, config: MaskTransformerConfig):
        super().__init__()
        self.config = config
        K = config.num_tokens
        self.mask_id, self.pad_id = K, K + 1
        self.token_emb = nn.Embedding(K + 2, config.code_dim)
        self.input = nn.Linear(config.code_dim, config.latent_dim)
        self.backbone = Backbone(config)
        self.head = nn.Linear(config.latent_dim, K)

    @torch.no_grad()
    def init_code_embeddings(self, codebooks: torch.Tensor) -> None:
        """Start the embeddings of the K codes from the tokenizer's base-layer codebook (codebooks (Q, K, code_dim));
        [MASK] and [PAD] keep their own."""
        want = (self.config.num_tokens, self.config.code_dim)
        if tuple(codebooks.shape[1:]) != want:
            raise ValueError(f"codebooks of shape {tuple(codebooks.shape)} do not fit this model's code embeddings "
                             f"{want} (its code_dim must be the tokenizer's)")
        self.token_emb.weight[: self.config.num_tokens] = codebooks[0]

    def forward(self, ids: torch.Tensor, cond: dict[str, torch.Tensor], valid: torch.Tensor,
                drop: torch.Tensor | None = None) -> torch.Tensor:
        """ids (B, N) in [0, K + 2) (codes, [MASK], [PAD]) -> logits (B, N, K)."""
        h = self.backbone(self.input(self.token_emb(ids)), cond, valid, drop)
        return self.head(h)

    def guided_logits(self, ids: torch.Tensor, cond: dict[str, torch.Tensor], valid: torch.Tensor,
                      scale: float) -> torch.Tensor:
        return guided(lambda i, v, c, d: self(i, c, v, d), cond, scale, ids, valid, kept=self.backbone.cond.kept)

    def loss(self, codes: torch.Tensor, cond: dict[str, torch.Tensor],
             schedule: CosineMaskSchedule = CosineMaskSchedule()) -> tuple[torch.Tensor, dict[str, float]]:
        """codes (B, N) base-layer codes, -1 on padding -> (cross-entropy on masked tokens, logs)."""
        valid = codes >= 0
        B, N = codes.shape
        dev = codes.device
        n_mask = schedule.num_masked(torch.rand(B, device=dev), valid.sum(1))  # (B,)
        ranks = torch.rand(B, N, device=dev).masked_fill(~valid, 2.0).argsort(1).argsort(1)
        chosen = ranks < n_mask[:, None]  # (B, N) never a padded position
        ids = codes.clamp_min(0)
        u = torch.rand(B, N, device=dev)
        random_tok = chosen & (u < RANDOM_TOKEN_SHARE)
        mask_upto = RANDOM_TOKEN_SHARE + (1 - RANDOM_TOKEN_SHARE) * MASK_TOKEN_SHARE
        to_mask = chosen & (u >= RANDOM_TOKEN_SHARE) & (u < mask_upto)
        ids = torch.where(random_tok, torch.randint_like(ids, self.config.num_tokens), ids)
        ids = torch.where(to_mask, torch.full_like(ids, self.mask_id), ids)
        ids = ids.masked_fill(~valid, self.pad_id)
        drop = torch.rand(B, device=dev) < self.config.cond_drop_prob if self.training else None
        logits = self(ids, cond, valid, drop)  # (B, N, K)
        labels = codes.masked_fill(~chosen, -100)
        loss = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=-100)
        acc = (logits.argmax(-1) == codes)[chosen].float().mean()
        return loss, {"ce": loss.item(), "acc": acc.item()}
