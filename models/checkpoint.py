"""Self-describing checkpoints: one safetensors file holding the weights, the model's kind and its config.

The metadata also carries a SHA-256 of the weights, so a truncated or corrupted file is detected on load
instead of being half-loaded.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from utils.io import atomic_write_bytes

FORMAT = "zoomotion-1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the problem."""


def _digest(state: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(name.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of a model's weights as its checkpoint records it (known from the file when loaded, so no
    re-hashing); other models name the weights they depend on by it."""
    return getattr(model, "checkpoint_sha256", None) or _digest(model.state_dict())


def save_checkpoint(path: str | Path, kind: str, config: dict, state: dict[str, torch.Tensor],
                    extra: dict | None = None, keep_identical: bool = False) -> bool:
    """Write weights + {kind, config, extra} atomically; -> whether the file was written. With `keep_identical`
    an existing file holding the same weights, kind, config and extra is left alone (safetensors orders the header
    differently from one save to the next, so rewriting it would change its bytes, not its content)."""
    state = {k: v.detach().cpu().contiguous() for k, v in state.items()}
    meta = {"format": FORMAT, "kind": kind, "config": json.dumps(config), "sha256": _digest(state),
            "extra": json.dumps(extra or {})}
    if keep_identical and Path(path).is_file():
        try:  # load_checkpoint also checks the stored weights against their digest
            old_config, _, old_extra = load_checkpoint(path, kind)
        except CheckpointError:  # unreadable, foreign or corrupt: overwrite it
            old_config = old_extra = None
        if (old_extra is not None and old_extra.pop("_sha256") == meta["sha256"]
                and json.dumps(old_config) == meta["config"] and json.dumps(old_extra) == meta["extra"]):
            return False
    atomic_write_bytes(path, st_save(state, metadata=meta))
    return True


def load_checkpoint(path: str | Path, kind: str) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """-> (config, state, extra) with extra["_sha256"] the weights' digest; raises CheckpointError for a missing,
    foreign, corrupt or wrong-kind file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file does not exist")
    data = path.read_bytes()
    try:
        state = st_load(data)
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable safetensors checkpoint, the file may be truncated or "
                              f"corrupt ({e})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a ZooMotion checkpoint (no '{FORMAT}' metadata)")
    if meta.get("kind") != kind:
        raise CheckpointError(f"{path}: holds a {meta.get('kind')!r} model, expected a {kind!r} checkpoint")
    if _digest(state) != meta.get("sha256"):
        raise CheckpointError(f"{path}: weights do not match their checksum; the file is corrupt, re-create it")
    return json.loads(meta["config"]), state, {**json.loads(meta.get("extra", "{}")), "_sha256": meta["sha256"]}


class Checkpointable:
    """save() / load() for a module built from a dataclass `self.config`; the subclass names its kind and config
    class. `load` returns the model in eval mode, with what the checkpoint's `extra` held in `checkpoint_extra`."""

    checkpoint_kind: str
    config_class: type

    def save(self, path: str | Path, extra: dict | None = None) -> None:
        save_checkpoint(path, self.checkpoint_kind, asdict(self.config), self.state_dict(), extra)

    def train(self, mode: bool = True):
        if mode:  # weights about to change: the digest read from the file no longer names them
            self.__dict__.pop("checkpoint_sha256", None)
        return super().train(mode)

    @classmethod
    def load(cls, path: str | Path, map_location: str | torch.device = "cpu"):
        config, state, extra = load_checkpoint(path, cls.checkpoint_kind)
        model = cls(cls.config_class(**config))
        model.load_state_dict(state)
        model.checkpoint_sha256 = extra.pop("_sha256")
        model.checkpoint_extra = extra
        return model.to(map_location).eval()
