"""Train the masked transformer (base-layer codes from text, species and gender) on a frozen tokenizer's codes,
and the length estimator beside it (OUT/length_estimator.safetensors); for a tokenizer with the body condition, the
body estimator too (OUT/body_estimator.safetensors).

    python train_t2m_transformer.py --data data/zoo/animals --tokenizer runs/vq_animals/model.safetensors \\
        --out runs/t2m_animals [--evaluator runs/eval_animals/model.safetensors]
    python train_t2m_transformer.py ... --resume                                      # after a kill
    accelerate launch --multi_gpu --num_processes 2 train_t2m_transformer.py ...     # (CPU: gloo)

The data set's codes are computed once and cached under --cache-dir (recomputed when the tokenizer changes).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from models.checkpoint import CheckpointError
from models.mask_transformer.body_estimator import BodyEstimatorConfig, fit_body_estimator
from models.mask_transformer.length_estimator import LengthEstimatorConfig, fit_length_estimator
from models.mask_transformer.mask_transformer import MaskTransformer, MaskTransformerConfig
from models.vq.rvqvae import RVQVAE
from utils.dataset import DataError
from utils.t2m_task import TransformerTask, add_t2m_args, load_run
from utils.training import join_processes, train, train_config_from_args


def _table(task: TransformerTask, items, target) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Every (caption, species, gender) of `items` embedded -> the stacked target(item) of its clip (computed once
    per clip, however many captions it has)."""
    rows = [(c.text, it.species, it.gender, t) for it in items for t in [torch.as_tensor(target(it))]
            for c in it.captions]
    emb = tuple(task.bank([r[i] for r in rows]) for i in range(3))
    return emb, torch.stack([r[3] for r in rows])


def fit_lengths(task: TransformerTask, config: MaskTransformerConfig, path: Path, seed: int) -> dict:
    """The length estimator on every (caption, species, gender) of the train split -> its token count."""
    def table(items):
        return _table(task, items, lambda it: min(len(it.features), config.max_tokens * config.frames_per_token)
                      // config.frames_per_token)

    train_cond, train_tokens = table(task.train_items)
    val = table(task.val_items) if task.val_items else None
    cfg = LengthEstimatorConfig(cond_dim=config.cond_dim, min_tokens=int(train_tokens.min()),
                                max_tokens=config.max_tokens, frames_per_token=config.frames_per_token,
                                text_encoder=config.text_encoder)
    model, logs = fit_length_estimator(cfg, train_cond, train_tokens, seed=seed, val=val)
    model.save(path, logs)
    return logs


def fit_bodies(task: TransformerTask, tokenizer: RVQVAE, path: Path, seed: int) -> dict:
    """The body estimator on every (caption, species, gender) of the train split -> its clip's body."""
    def body(it):
        return tokenizer.body_of(tokenizer.normalize(torch.from_numpy(it.features).float())[None])[0]

    train_cond, train_bodies = _table(task, task.train_items, body)
    val = _table(task, task.val_items, body) if task.val_items else None
    cfg = BodyEstimatorConfig(cond_dim=train_cond[0].shape[1], body_dim=train_bodies.shape[1],
                              text_encoder=task.bank.kind)
    model, logs = fit_body_estimator(cfg, train_cond, train_bodies, seed=seed, val=val)
    model.save(path, logs)
    return logs


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # a masked transformer started from the base codebook trained and generated worse than a random start; one
    # that also reads the caption's words generated better animals in the same training time (README)
    add_t2m_args(p, code_init="random", text_words=48, mirror=False)
    args = p.parse_args(argv)
    cfg = train_config_from_args(args, args.out)
    state = join_processes(cfg.seed)
    try:
        folder, tokenizer, model = load_run(args, MaskTransformer, MaskTransformerConfig)
        task = TransformerTask(model, tokenizer, folder, args, residual=False)
        lengths = Path(args.out) / "length_estimator.safetensors"
        if state.is_main_process and not lengths.is_file():
            Path(args.out).mkdir(parents=True, exist_ok=True)
            state.print("length estimator:", json.dumps(fit_lengths(task, model.config, lengths, cfg.seed)))
        bodies = Path(args.out) / "body_estimator.safetensors"
        if state.is_main_process and tokenizer.config.body_condition and not bodies.is_file():
            state.print("body estimator:", json.dumps(fit_bodies(task, tokenizer, bodies, cfg.seed)))
    except (DataError, CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    last = train(task, cfg, resume=args.resume)
    state.print(json.dumps(last, indent=1))


if __name__ == "__main__":
    main()
