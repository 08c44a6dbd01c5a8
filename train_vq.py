"""Train the motion tokenizer (RVQ-VAE) on any data set folder in the HumanML3D / AniMo4D convention.

    python train_vq.py --data data/zoo/animals --out runs/vq_animals
    python train_vq.py --data data/zoo/animals --out runs/vq_animals --resume      # after a kill
    accelerate launch --multi_gpu --num_processes 2 train_vq.py --data ... --out ...  # (CPU: gloo)
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F

from eval.vq import evaluate_tokenizer
from models.text_encoder import TEXT_ENCODER_DIMS, TEXT_ENCODER_PATH_HELP, CaptionBank, condition_texts
from models.vq.rvqvae import VQ_CONFIGS, RVQVAE, create_rvqvae
from utils.dataset import DataError, MotionFolder, MotionWindowDataset, PackedMotions, collate_motions
from utils.training import TrainConfig, add_train_args, join_processes, train, train_config_from_args


class VQTask:
    """What is particular to the tokenizer: window data, the species/gender condition, MoMask's losses."""

    def __init__(self, model: RVQVAE, folder: MotionFolder, window: int, val_items: int, ric_weight: float,
                 vel_weight: float, root_weight: float = 1.0, heading_weight: float = 1.0,
                 rot_weight: float = 1.0, joint_weight: float = 1.0, text_encoder_path: str | None = None):
        mean, std = folder.mean_std()
        # kept in the checkpoint: the loss is part of the recipe
        self.loss_weights = {"ric": ric_weight, "vel": vel_weight, "root": root_weight, "heading": heading_weight,
                             "rot": rot_weight, "joint": joint_weight}
        # per-dim weights of the reconstruction loss: the joint rotations are not used to recover positions
        self.feature_weight = torch.ones(model.spec.feature_dim)
        self.feature_weight[model.spec.slices.rot] = rot_weight
        self.yaw = model.spec.slices.root_rot_vel.start
        self.yaw_mean, self.yaw_std = float(mean[self.yaw]), float(std[self.yaw])
        model.set_normalization(mean, std)
        self.model = model
        train_items = folder.load_split("train")
        self.val = folder.load_split("val")[:val_items] if "val" in folder.available_splits() else []
        self.dataset = MotionWindowDataset(PackedMotions(train_items, mean, std), window=window)
        self.collate_fn = collate_motions
        self.ric = model.spec.slices.ric
        # every condition the data holds, encoded once; unknown ones are encoded when met
        self.bank = CaptionBank(model.config.text_encoder, text_encoder_path)
        self.bank(condition_texts([i.species for i in train_items], [i.gender for i in train_items]))

    def cond(self, species: list[str], genders: list[str], device) -> torch.Tensor:
        return self.bank(condition_texts(species, genders)).to(device)

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        x = batch["motion"]  # (B, W, D) normalised
        out = model(x, self.cond(batch["species"], batch["gender"], x.device))
        rec = out["recon"]
        loss_rec = (F.smooth_l1_loss(rec, x, reduction="none") * self.feature_weight.to(x.device)).mean()
        loss_ric = F.smooth_l1_loss(rec[..., self.ric], x[..., self.ric])
        velocity = lambda f: f[:, 1:, self.ric] - f[:, :-1, self.ric]  # noqa: E731
        loss_vel = F.smooth_l1_loss(velocity(rec), velocity(x))
        # The root's 4 dims are 1% of the vector but every joint hangs on them: a small bias in the yaw velocity
        # integrates into a heading that drifts and swings the whole body. Weigh them up and penalise the drift.
        root = self.model.spec.slices.root
        loss_root = F.smooth_l1_loss(rec[..., root], x[..., root])
        heading = lambda f: torch.cumsum(2 * (f[..., self.yaw] * self.yaw_std + self.yaw_mean), dim=1)  # noqa: E731
        loss_heading = (heading(rec) - heading(x)).abs().mean()
        # The joint position error itself, in metres, in the body frame. SmoothL1 on normalised features is
        # quadratic below one standard deviation, and the zoo's standard deviations span all species: an elephant's
        # posture 3 cm off is 0.03 std, whose gradient has all but vanished. The Euclidean error's gradient does not
        # fade as the error shrinks, and it weighs each joint by its error in space, as MPJPE does.
        joints = self.model.body_frame_joints  # (the model given may be a distributed wrapper)
        loss_joint = (joints(rec.float()) - joints(x)).norm(dim=-1).mean()
        w = self.loss_weights
        loss = (loss_rec + w["ric"] * loss_ric + w["vel"] * loss_vel + w["root"] * loss_root
                + w["heading"] * loss_heading + w["joint"] * loss_joint + out["commit_loss"])
        return loss, {"rec": loss_rec.item(), "ric": loss_ric.item(), "vel": loss_vel.item(),
                      "root": loss_root.item(), "heading": loss_heading.item(), "commit": out["commit_loss"].item(),
                      "joint_mm": 1000 * loss_joint.item()}

    def validate(self, model: RVQVAE) -> dict[str, float]:
        if not self.val:
            return {}
        r = evaluate_tokenizer(model, self.val, wrong_species=False)
        return {"mpjpe_mm": r["mpjpe_mm"], "mpjpe_mm_unfitted": r["mpjpe_mm_unfitted"],
                "mpjpe_mm_1layer": r["mpjpe_mm_by_layers"][1],
                "min_code_usage": min(r["code_usage_by_layer"])}

    def export(self, model: RVQVAE, path: Path, extra: dict) -> None:
        model.save(path, {**extra, "loss_weights": self.loss_weights})


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="data set folder (new_joint_vecs/, texts/, splits, Mean/Std)")
    p.add_argument("--out", required=True, help="run folder: model.safetensors, metrics.csv, state/")
    p.add_argument("--config", default="cpu", choices=sorted(VQ_CONFIGS), help="named tokenizer size")
    p.add_argument("--skeleton", help="skeleton name or .json (default: from the data set)")
    p.add_argument("--text-encoder", default="minilm", choices=sorted(TEXT_ENCODER_DIMS))
    p.add_argument("--text-encoder-path", help=TEXT_ENCODER_PATH_HELP)
    p.add_argument("--window", type=int, default=64, help="training window in frames (MoMask: 64)")
    p.add_argument("--ric-weight", type=float, default=0.5, help="MoMask's weight on the joint-position slice")
    p.add_argument("--vel-weight", type=float, default=0.5, help="weight on joint-position velocities")
    p.add_argument("--root-weight", type=float, default=1.0, help="extra weight on the 4 root features")
    p.add_argument("--heading-weight", type=float, default=1.0,
                   help="weight on the integrated heading error (radians) over the window")
    p.add_argument("--rot-weight", type=float, default=1.0,
                   help="weight of the joint-rotation slice in the reconstruction loss (positions do not use it)")
    p.add_argument("--joint-weight", type=float, default=1.0,
                   help="weight of the mean joint position error in metres (body frame, i.e. MPJPE without the "
                        "trajectory)")
    p.add_argument("--val-items", type=int, default=64, help="val clips scored at each validation")
    p.add_argument("--strict", action="store_true", help="stop at the first bad clip instead of skipping it")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    defaults = TrainConfig(out_dir="", max_steps=6000, batch_size=64, lr=2e-4, warmup_steps=300,
                           val_every=1000, ckpt_every=500)
    add_train_args(p, defaults)
    args = p.parse_args(argv)

    cfg = train_config_from_args(args, args.out)
    state = join_processes(cfg.seed)
    try:
        folder = MotionFolder(args.data, args.skeleton, strict=args.strict)
        if args.resume:
            model = RVQVAE.load(Path(args.out) / "model.safetensors")
        else:
            model = create_rvqvae(args.config, skeleton=folder.spec, text_encoder=args.text_encoder,
                                  cond_dim=TEXT_ENCODER_DIMS[args.text_encoder])
        task = VQTask(model, folder, args.window, args.val_items, args.ric_weight, args.vel_weight,
                      args.root_weight, args.heading_weight, args.rot_weight, args.joint_weight, args.text_encoder_path)
    except (DataError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    last = train(task, cfg, resume=args.resume)
    state.print(json.dumps(last, indent=1))


if __name__ == "__main__":
    main()
