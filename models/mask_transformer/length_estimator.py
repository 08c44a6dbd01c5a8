"""Motion length from the condition: an MLP on the text, species and gender embeddings gives a distribution over
token counts (MoMask uses such a model but ships no way to train it; `fit_length_estimator` is that way)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import Checkpointable
from models.mask_transformer.fitting import condition_mlp, fit_on_condition

KIND = "length_estimator"


@dataclass
class LengthEstimatorConfig:
    cond_dim: int = 384
    hidden: int = 256
    dropout: float = 0.2
    min_tokens: int = 1  # shortest and longest length seen in training, in tokens
    max_tokens: int = 49
    frames_per_token: int = 4
    text_encoder: str = "minilm"  # species and gender are read as text too, whatever vocabulary the transformers use


class LengthEstimator(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, LengthEstimatorConfig

    def __init__(self, config: LengthEstimatorConfig):
        super().__init__()
        self.config = config
        E, H = config.cond_dim, config.hidden
        self.mlp = condition_mlp(E, H, config.max_tokens + 1, config.dropout)

    def forward(self, text: torch.Tensor, species: torch.Tensor, gender: torch.Tensor) -> torch.Tensor:
        """(B, E) embeddings each -> (B, max_tokens + 1) logits over token counts; impossible counts at -inf."""
        logits = self.mlp(torch.cat([text, species, gender], -1)).float()
        too_short = torch.arange(logits.shape[1], device=logits.device) < self.config.min_tokens
        return logits.masked_fill(too_short, float("-inf"))

    @torch.no_grad()
    def sample(self, text, species, gender, generators: list[torch.Generator] | None = None) -> torch.Tensor:
        """-> (B,) token counts drawn from the predicted distribution (one generator per sample, or the global RNG)."""
        probs = self(text, species, gender).softmax(-1)
        if generators is None:
            return torch.multinomial(probs, 1)[:, 0]
        return torch.stack([torch.multinomial(p.cpu(), 1, generator=g)[0] for p, g in zip(probs, generators)]).to(
            probs.device)


def fit_length_estimator(config: LengthEstimatorConfig, cond: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                         tokens: torch.Tensor, steps: int = 1000, batch_size: int = 256, lr: float = 1e-3,
                         seed: int = 0, val: tuple | None = None, check_every: int = 50
                         ) -> tuple[LengthEstimator, dict[str, float]]:
    """Cross-entropy on (text, species, gender) embeddings -> token counts. With `val` = (cond, tokens) the weights
    kept are those of the check (every `check_every` steps) with the lowest validation negative log-likelihood,
    and the logs report it with the mean absolute error in tokens of the distribution's median."""
    torch.manual_seed(seed)
    model = LengthEstimator(config)
    last, best, best_step = fit_on_condition(model, F.cross_entropy, cond, tokens, steps, batch_size, lr, seed, val,
                                             check_every)
    logs = {"train_nll": last}
    if val is not None:
        with torch.no_grad():
            median = (model(*val[0]).softmax(-1).cumsum(-1) < 0.5).sum(-1)
        logs.update(val_nll=best, best_step=best_step, val_mae_tokens=float((median - val[1]).abs().float().mean()))
    return model, logs
