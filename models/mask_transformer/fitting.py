"""What the length and body estimators share: an MLP on the (text, species, gender) embeddings and its fit (seconds on
a CPU)."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def condition_mlp(cond_dim: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    """(B, 3 * cond_dim) concatenated text, species and gender embeddings -> (B, out)."""
    return nn.Sequential(nn.Linear(3 * cond_dim, hidden), nn.LayerNorm(hidden), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, out))


def fit_on_condition(model: nn.Module, loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                     cond: tuple[torch.Tensor, ...], target: torch.Tensor, steps: int, batch_size: int, lr: float,
                     seed: int, val: tuple | None, check_every: int) -> tuple[float, float, int]:
    """AdamW + cosine decay on random batches of (cond rows -> target rows). With `val` = (cond, target) the weights
    kept are those of the check (every `check_every` steps) with the lowest validation loss.
    -> (last training loss, best validation loss or inf, its step); the model is left in eval mode."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    n = len(target)
    best, best_state, best_step = float("inf"), None, 0
    for step in range(1, steps + 1):
        model.train()
        idx = torch.randint(n, (min(batch_size, n),), generator=g)
        loss = loss_fn(model(*(c[idx] for c in cond)), target[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if val is not None and (step % check_every == 0 or step == steps):
            model.eval()
            with torch.no_grad():
                err = float(loss_fn(model(*val[0]), val[1]))
            if err < best:
                best, best_step = err, step
                best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return loss.item(), best, best_step
