"""Train the text-motion evaluator (DSTformer motion encoder + frozen text encoder, InfoNCE) on any data set.

    python train_evaluator.py --data data/zoo/animals --out runs/eval_animals
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from eval.evaluator import EvaluatorConfig, TextMotionEvaluator
from eval.metrics import r_precision
from models.dstformer import DST_CONFIGS
from models.text_encoder import TEXT_ENCODER_DIMS, TEXT_ENCODER_PATH_HELP, CaptionBank
from utils.dataset import (UNKNOWN, DataError, MotionFolder, MotionItem, PackedMotions, TextMotionDataset,
                           collate_motions)
from utils.skeleton import skeleton_ref
from utils.training import TrainConfig, add_train_args, join_processes, train, train_config_from_args


class EvaluatorTask:
    def __init__(self, model: TextMotionEvaluator, folder: MotionFolder, max_length: int, val_items: int,
                 text_encoder_path: str | None = None, species_weight: float = 0.0,
                 train_items: list[MotionItem] | None = None):
        self.model = model
        self.species_weight = species_weight if model.species_head is not None else 0.0
        mean, std = folder.mean_std()
        self.mean, self.std = torch.from_numpy(mean), torch.from_numpy(std)
        items = folder.load_split("train") if train_items is None else train_items
        self.dataset = TextMotionDataset(PackedMotions(items, mean, std), max_length=max_length)
        self.collate_fn = collate_motions
        self.bank = CaptionBank(model.config.text_encoder, text_encoder_path)
        self.bank([c.text for it in items for c in it.captions])
        self.val = []
        if "val" in folder.available_splits():
            val = folder.load_split("val")[:val_items]
            self.val = TextMotionDataset(PackedMotions(val, mean, std), max_length=max_length, random_crop=False)

    def _features(self, batch: dict) -> torch.Tensor:
        x = batch["motion"]
        return (x * self.std.to(x.device) + self.mean.to(x.device)) * batch["mask"][..., None]

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        text_feats = self.bank(batch["caption"]).to(batch["motion"].device)
        m = model.encode_motion(self._features(batch), batch["length"])
        t = model.encode_text(text_feats)
        loss = model.contrastive_loss(m, t, text_feats)
        if not self.species_weight:
            return loss, {"nce": loss.item()}
        species = model.species_loss(m, batch["species"])
        return loss + self.species_weight * species, {"nce": loss.item(), "species": species.item()}

    @torch.no_grad()
    def embed(self, model: TextMotionEvaluator, dataset, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        ms, ts = [], []
        for a in range(0, len(dataset), batch_size):
            batch = collate_motions([dataset[i] for i in range(a, min(a + batch_size, len(dataset)))])
            ms.append(model.encode_motion(self._features(batch), batch["length"]))
            ts.append(model.encode_text(self.bank(batch["caption"])))
        return torch.cat(ms).numpy(), torch.cat(ts).numpy()

    def validate(self, model: TextMotionEvaluator) -> dict[str, float]:
        if not self.val or len(self.val) < 32:
            return {}
        motion, text = self.embed(model, self.val)
        top, mm = r_precision(text, motion)
        return {"top1": float(top[0]), "top3": float(top[2]), "mm_dist": mm}

    def export(self, model: TextMotionEvaluator, path: Path, extra: dict) -> None:
        model.save(path, {**extra, "species_weight": self.species_weight})  # the loss is part of the recipe


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--backbone", default="small", choices=sorted(DST_CONFIGS))
    p.add_argument("--embed-dim", type=int, default=256)
    p.add_argument("--frame-stride", type=int, default=4, help="read every k-th frame (20 fps data: 5 fps)")
    p.add_argument("--text-encoder", default="minilm", choices=sorted(TEXT_ENCODER_DIMS))
    p.add_argument("--text-encoder-path", help=TEXT_ENCODER_PATH_HELP)
    p.add_argument("--max-length", type=int, default=196)
    p.add_argument("--species-weight", type=float, default=0.5,
                   help="weight of a species classifier on the motion embedding, trained with the contrastive loss "
                        "when the data hold several species (0: contrastive only); the evaluator never gets the "
                        "species as input")
    p.add_argument("--val-items", type=int, default=256)
    p.add_argument("--strict", action="store_true")
    p.add_argument("--resume", action="store_true")
    defaults = TrainConfig(out_dir="", max_steps=3000, batch_size=64, lr=3e-4, weight_decay=0.01, warmup_steps=200,
                           val_every=500, ckpt_every=500)
    add_train_args(p, defaults)
    args = p.parse_args(argv)
    if args.species_weight < 0:
        p.error(f"--species-weight must be >= 0 (0 turns the species classifier off), got {args.species_weight}")
    cfg = train_config_from_args(args, args.out)
    state = join_processes(cfg.seed)
    try:
        folder = MotionFolder(args.data, strict=args.strict)
        train_items = folder.load_split("train")
        species = sorted({it.species for it in train_items} - {UNKNOWN}) if args.species_weight > 0 else []
        config = EvaluatorConfig(skeleton=skeleton_ref(folder.spec), backbone=args.backbone, embed_dim=args.embed_dim,
                                 frame_stride=args.frame_stride, text_encoder=args.text_encoder, species=species)
        model = TextMotionEvaluator.load(Path(args.out) / "model.safetensors") if args.resume \
            else TextMotionEvaluator(config)
        task = EvaluatorTask(model, folder, args.max_length, args.val_items, args.text_encoder_path,
                             args.species_weight, train_items)
    except (DataError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    state.print(json.dumps(train(task, cfg, resume=args.resume), indent=1))


if __name__ == "__main__":
    main()
