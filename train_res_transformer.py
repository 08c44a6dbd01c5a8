"""Train the residual transformer (code layers 1..Q-1 from the layers below, text, species and gender) on a frozen
tokenizer's codes.

    python train_res_transformer.py --data data/zoo/animals --tokenizer runs/vq_animals/model.safetensors \\
        --out runs/res_animals [--transformer runs/t2m_animals/model.safetensors --evaluator ...]
    python train_res_transformer.py ... --resume                                      # after a kill
    accelerate launch --multi_gpu --num_processes 2 train_res_transformer.py ...     # (CPU: gloo)

With --transformer and --evaluator, validation generates with both transformers and reports FID / R-precision.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from models.checkpoint import CheckpointError
from models.mask_transformer.mask_transformer import MaskTransformer
from models.mask_transformer.residual_transformer import ResidualTransformer, ResidualTransformerConfig
from models.vq.rvqvae import RVQVAE
from utils.dataset import DataError, MotionFolder
from utils.t2m_task import TransformerTask, add_t2m_args, check_tokenizer, new_model_config
from utils.training import TrainConfig, add_train_args, join_processes, train, train_config_from_args


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_t2m_args(p)
    p.add_argument("--transformer", help="the masked transformer, for generating during validation")
    p.add_argument("--untied", action="store_true", help="separate output projections instead of the code embeddings")
    defaults = TrainConfig(out_dir="", max_steps=3000, batch_size=64, lr=2e-4, weight_decay=1e-5,
                           warmup_steps=200, val_every=500, ckpt_every=250)
    add_train_args(p, defaults)
    args = p.parse_args(argv)
    cfg = train_config_from_args(args, args.out)
    state = join_processes()
    try:
        folder = MotionFolder(args.data, strict=args.strict)
        tokenizer = RVQVAE.load(args.tokenizer)
        if not folder.spec.same_layout(tokenizer.spec):
            raise ValueError(f"{args.tokenizer} tokenizes {tokenizer.spec.name!r} motions, {args.data} holds "
                             f"{folder.spec.name!r}")
        if args.resume:
            model = ResidualTransformer.load(Path(args.out) / "model.safetensors")
            check_tokenizer(model, tokenizer, args.tokenizer)
        else:
            config = new_model_config(ResidualTransformerConfig, args, tokenizer, folder)
            config.tie_output = not args.untied
            model = ResidualTransformer(config)
        base = MaskTransformer.load(args.transformer) if args.transformer else None
        task = TransformerTask(model, tokenizer, folder, args, residual=True, base_transformer=base)
    except (DataError, CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    last = train(task, cfg, resume=args.resume)
    state.print(json.dumps(last, indent=1))


if __name__ == "__main__":
    main()
