"""The one training loop every trainer shares: accelerate, AdamW, warm-up + cosine decay, gradient clipping,
a progress bar, CSV logs, validation and atomic, resumable checkpoints.

A trainer supplies a `Task`: the model, its data loader, a loss, a validation and an export. The loop runs on
CPU or CUDA (accelerate picks), in one process or under `accelerate launch` (gloo on CPU).

With `ema_decay` the loop also keeps an exponential moving average of the weights (torch's AveragedModel); that
average is what validation sees and what is exported, and the trained weights stay in the checkpoint folder.

Resuming (`resume=True`) continues the same run after a kill: the step, the optimizer, the LR schedule, the
model's buffers (a VQ codebook's EMA state), the RNG states and the position in the epoch all come back, so the
resumed run reaches the same weights as one that was never interrupted.
"""
from __future__ import annotations

import csv
import io
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Protocol

import torch
from accelerate import Accelerator, PartialState
from accelerate.utils import set_seed
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from utils.dataset import SeededSampler
from utils.io import atomic_write_text


@dataclass
class TrainConfig:
    out_dir: str
    max_steps: int = 1000
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.99)  # MoMask's AdamW betas
    warmup_steps: int = 100
    min_lr_ratio: float = 0.05  # cosine decay to this share of lr
    grad_clip: float = 1.0
    log_every: int = 10
    val_every: int = 250
    ckpt_every: int = 250
    seed: int = 0
    num_workers: int = 0
    mixed_precision: str = "no"  # "no", "bf16" or "fp16" (accelerate autocast)
    ema_decay: float = 0.0  # 0: off; else validate and export a moving average of the weights (ema_multi_avg_fn)
    threads: int = 0  # CPU threads for this process (0: torch's default); two runs side by side take 1 each
    progress: bool = True


class Task(Protocol):
    model: torch.nn.Module
    dataset: torch.utils.data.Dataset
    collate_fn: Callable | None

    def loss(self, model: torch.nn.Module, batch: dict) -> tuple[torch.Tensor, dict[str, float]]: ...

    def validate(self, model: torch.nn.Module) -> dict[str, float]: ...

    def export(self, model: torch.nn.Module, path: Path, extra: dict) -> None: ...


_NOT_FLAGS = ("out_dir", "betas", "progress")


def join_processes(seed: int) -> PartialState:
    """Join the process group `accelerate launch` started, before any model is built: vector-quantize-pytorch
    decides when a quantizer is constructed whether to all-reduce its EMA codebook statistics across processes.
    Without CUDA the processes form a gloo CPU group. Then seed torch, numpy and random, so the model about to be
    built starts from the same weights in every run with this seed (torch seeds itself at random otherwise).
    Returns the state (its .print prints on the main process)."""
    state = PartialState(cpu=not torch.cuda.is_available())
    set_seed(seed)
    return state


def add_train_args(parser, defaults: TrainConfig) -> None:
    """One --flag per TrainConfig field, with this trainer's defaults."""
    for f in fields(TrainConfig):
        if f.name not in _NOT_FLAGS:
            value = getattr(defaults, f.name)
            parser.add_argument(f"--{f.name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs still go to metrics.csv)")


def train_config_from_args(args, out_dir: str) -> TrainConfig:
    return TrainConfig(out_dir=out_dir, progress=not args.no_progress,
                       **{f.name: getattr(args, f.name) for f in fields(TrainConfig) if f.name not in _NOT_FLAGS})


def ema_multi_avg_fn(decay: float) -> Callable:
    """AveragedModel's update for an exponential moving average whose decay warms up as min(decay, (1 + n) /
    (10 + n)) after n updates, so the random start is forgotten within the first hundred steps of a short run."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must lie in (0, 1) (e.g. 0.999), got {decay}")

    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        n = int(n_averaged)
        torch._foreach_lerp_(averaged, current, 1.0 - min(decay, (1 + n) / (10 + n)))
    return update


def lr_lambda(cfg: TrainConfig) -> Callable[[int], float]:
    """Linear warm-up, then cosine decay to min_lr_ratio at max_steps."""
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        t = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    return f


class _StateDir:
    """Checkpoint folder swapped in atomically: write `state.tmp`, then rename over `state`."""

    def __init__(self, out: Path):
        self.live, self.tmp, self.old = out / "state", out / "state.tmp", out / "state.old"

    def current(self) -> Path | None:
        for d in (self.live, self.old):  # `old` survives a crash between the two renames
            if (d / "trainer.json").is_file():
                return d
        return None

    def commit(self) -> None:
        if self.live.exists():
            shutil.rmtree(self.old, ignore_errors=True)
            self.live.rename(self.old)
        self.tmp.rename(self.live)
        shutil.rmtree(self.old, ignore_errors=True)


def train(task: Task, cfg: TrainConfig, resume: bool = False,
          on_step: Callable[[int], None] | None = None) -> dict:
    """Run (or continue) training; returns the last logged metrics. `on_step(step)` runs after every step."""
    out = Path(cfg.out_dir)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    # without CUDA, processes started by `accelerate launch --multi_gpu` must be told to form a gloo CPU group
    accel = Accelerator(mixed_precision=cfg.mixed_precision, cpu=not torch.cuda.is_available())
    set_seed(cfg.seed)
    states = _StateDir(out)
    if accel.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        if not resume and states.current() is not None:
            raise FileExistsError(f"{out} already holds a training run; pass --resume to continue it or choose "
                                  f"another --out")
        atomic_write_text(out / "train_config.json", json.dumps(asdict(cfg), indent=1))

    sampler = SeededSampler(len(task.dataset), seed=cfg.seed)
    loader = torch.utils.data.DataLoader(
        task.dataset, batch_size=cfg.batch_size, sampler=sampler, collate_fn=task.collate_fn, drop_last=True,
        num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0,
        generator=torch.Generator().manual_seed(cfg.seed),  # iterator creation must not draw from the global RNG
    )
    if len(loader) == 0:
        raise ValueError(f"the data set has {len(task.dataset)} items, fewer than one batch of {cfg.batch_size}")
    model = task.model
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=cfg.betas)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg))
    model, optimizer, loader = accel.prepare(model, optimizer, loader)
    # The schedule is not prepared: accelerate steps a prepared one once per process at every optimizer step, which
    # in an N-process run would finish the warm-up and decay after max_steps / N of our (optimizer) steps.
    accel.register_for_checkpointing(scheduler)
    ema = None
    if cfg.ema_decay:
        # a float copy of the weights beside the trained ones; buffers (a VQ codebook's EMA state) are copied as is
        ema = AveragedModel(accel.unwrap_model(model), multi_avg_fn=ema_multi_avg_fn(cfg.ema_decay)).eval()
        accel.register_for_checkpointing(ema)

    def exported() -> torch.nn.Module:
        return ema.module if ema is not None else accel.unwrap_model(model)

    step, epoch, batch_in_epoch = 0, 0, 0
    if resume:
        found = states.current()
        if found is None:
            raise FileNotFoundError(f"{out}: nothing to resume (no checkpoint under {out / 'state'})")
        accel.load_state(str(found))
        meta = json.loads((found / "trainer.json").read_text())
        step, epoch, batch_in_epoch = meta["step"], meta["epoch"], meta["batch_in_epoch"]
        if accel.is_main_process:
            _trim_csv(out / "metrics.csv", step)

    def save_state() -> None:
        accel.wait_for_everyone()
        if accel.is_main_process:
            shutil.rmtree(states.tmp, ignore_errors=True)
            states.tmp.mkdir(parents=True)
        accel.wait_for_everyone()
        accel.save_state(str(states.tmp))
        if accel.is_main_process:
            atomic_write_text(states.tmp / "trainer.json", json.dumps(
                {"step": step, "epoch": epoch, "batch_in_epoch": batch_in_epoch}))
            states.commit()
            task.export(exported(), out / "model.safetensors", {"step": step})
        accel.wait_for_everyone()

    log_path = out / "metrics.csv"
    bar = tqdm(total=cfg.max_steps, initial=step, disable=not (cfg.progress and accel.is_main_process),
               desc=out.name, dynamic_ncols=True)
    last: dict[str, float] = {}
    running: dict[str, float] = {}
    t0 = time.perf_counter()
    steps_timed = 0
    model.train()
    while step < cfg.max_steps:
        loader.set_epoch(epoch)  # accelerate's loader sets it on our sampler; plain set_epoch would be overridden
        # a resumed epoch starts where it stopped: skip at the sampler, so no batch is loaded for nothing
        sampler.position = batch_in_epoch * cfg.batch_size * accel.num_processes
        for batch in loader:
            with accel.autocast():
                loss, logs = task.loss(model, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower --lr or check the data")
            optimizer.zero_grad(set_to_none=True)
            accel.backward(loss)
            if cfg.grad_clip:
                accel.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            scheduler.step()
            if ema is not None:
                ema.update_parameters(accel.unwrap_model(model))
            step += 1
            batch_in_epoch += 1
            steps_timed += 1
            for k, v in {"loss": loss.item(), **logs}.items():
                running[k] = running.get(k, 0.0) + v
            bar.update(1)
            if step % cfg.log_every == 0 or step == cfg.max_steps:
                secs = time.perf_counter() - t0
                last = {k: v / steps_timed for k, v in running.items()}
                last.update(step=step, lr=scheduler.get_last_lr()[0], steps_per_s=steps_timed / secs)
                running, steps_timed, t0 = {}, 0, time.perf_counter()
                bar.set_postfix(loss=f"{last['loss']:.4f}")
                if cfg.val_every and (step % cfg.val_every == 0 or step == cfg.max_steps):
                    model.eval()
                    last.update({f"val_{k}": v for k, v in task.validate(exported()).items()})
                    model.train()
                if accel.is_main_process:
                    _append_csv(log_path, last)
            if step % cfg.ckpt_every == 0 or step == cfg.max_steps:
                save_state()
            if on_step is not None:
                on_step(step)
            if step >= cfg.max_steps:
                break
        else:
            epoch, batch_in_epoch = epoch + 1, 0
    bar.close()
    accel.end_training()
    return last


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _write_csv(path: Path, rows: list[dict]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _append_csv(path: Path, row: dict) -> None:
    """Append a row (the file is rewritten atomically; a new column widens the header)."""
    _write_csv(path, _read_csv(path) + [{k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()}])


def _trim_csv(path: Path, step: int) -> None:
    """Drop rows logged after `step`: a resumed run logs those steps again."""
    rows = _read_csv(path)
    kept = [r for r in rows if int(float(r["step"])) <= step]
    if len(kept) < len(rows):
        _write_csv(path, kept)
