"""The body to generate for: an MLP on the text, species and gender embeddings gives the bone lengths (the
tokenizer's body condition, `RVQVAE.body_of`), so that "a big horse" is decoded bigger than "a foal". Without it,
decoding draws the typical body of the species and gender, whatever the text says about size."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.checkpoint import Checkpointable
from models.mask_transformer.fitting import condition_mlp, fit_on_condition

KIND = "body_estimator"


@dataclass
class BodyEstimatorConfig:
    cond_dim: int = 384
    body_dim: int = 29  # bones of the tokenizer's skeleton (joints - 1)
    hidden: int = 256
    dropout: float = 0.1
    text_encoder: str = "minilm"  # species and gender are read as text too, whatever vocabulary the transformers use


class BodyEstimator(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, BodyEstimatorConfig

    def __init__(self, config: BodyEstimatorConfig):
        super().__init__()
        self.config = config
        E, H = config.cond_dim, config.hidden
        self.mlp = condition_mlp(E, H, config.body_dim, config.dropout)

    def forward(self, text: torch.Tensor, species: torch.Tensor, gender: torch.Tensor) -> torch.Tensor:
        """(B, E) embeddings each -> (B, body_dim) log bone lengths over the skeleton's rest lengths."""
        return self.mlp(torch.cat([text, species, gender], -1)).float()


def fit_body_estimator(config: BodyEstimatorConfig, cond: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
                       bodies: torch.Tensor, steps: int = 1000, batch_size: int = 256, lr: float = 1e-3,
                       seed: int = 0, val: tuple | None = None, check_every: int = 50
                       ) -> tuple[BodyEstimator, dict[str, float]]:
    """Mean squared error on (text, species, gender) embeddings -> bodies (N, body_dim). With `val` = (cond, bodies)
    the weights kept are those of the check (every `check_every` steps) with the lowest validation error; the logs
    report it as the RMS error in log length next to that of predicting each validation body's mean."""
    torch.manual_seed(seed)
    model = BodyEstimator(config)
    last, best, best_step = fit_on_condition(model, F.mse_loss, cond, bodies, steps, batch_size, lr, seed, val,
                                             check_every)
    logs = {"train_mse": last}
    if val is not None:
        logs.update(val_rms=best ** 0.5, best_step=best_step,
                    val_rms_of_the_mean=float((val[1] - val[1].mean(0)).pow(2).mean()) ** 0.5)
    return model, logs
