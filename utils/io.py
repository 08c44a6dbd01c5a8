"""Atomic file writes: a reader never sees a half-written file, a crash never leaves one behind."""
from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def load_npy(path: str | Path) -> np.ndarray:
    """An array from a .npy file a user named; ValueError naming the file when it is missing or not an array."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: file does not exist")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ValueError(f"{path}: not a readable .npy file ({e})") from None


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def write_report(out_prefix: str | Path, results: dict, table: str) -> None:
    """An evaluation's results as OUT.json (all numbers) and OUT.md (the table), both atomically. OUT keeps any dots
    in its name (results/guidance_2.5 -> results/guidance_2.5.json); a trailing .json or .md is dropped."""
    out = Path(out_prefix)
    if out.suffix in (".json", ".md"):
        out = out.with_suffix("")
    atomic_write_text(out.parent / f"{out.name}.json", json.dumps(results, indent=1))
    atomic_write_text(out.parent / f"{out.name}.md", table + "\n")
