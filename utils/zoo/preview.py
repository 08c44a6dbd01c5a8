"""Look at the zoo: a contact sheet of clips (PNG) and short videos, drawn with matplotlib."""
from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from utils.dataset import MotionFolder, read_texts  # noqa: E402


def _load(root: Path, clip_id: str):
    group = root / ("animals" if clip_id.startswith("A") else "people")
    path = group / "new_joints" / f"{clip_id}.npy"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such clip; clip IDs look like A000012 (animals) or H000034 (people)")
    spec = MotionFolder(group, min_length=2).spec
    caps, _, _ = read_texts(group / "texts" / f"{clip_id}.txt")
    return np.load(path).astype(np.float64), spec, caps[0].text


def _draw(ax, joints: np.ndarray, spec, frames, caption: str, fontsize: float = 7.0) -> None:
    """Skeletons at `frames` (faded early to late), the root path on the ground, a floor grid and the caption."""
    # plot axes: x, z on the ground, y up (matplotlib's z)
    lo = joints[..., [0, 2]].min((0, 1))
    hi = joints[..., [0, 2]].max((0, 1))
    mid = (lo + hi) / 2
    half = max((hi - lo).max() / 2, joints[..., 1].max() / 2, 0.2) * 1.05
    gx = np.linspace(mid[0] - half, mid[0] + half, 5)
    gz = np.linspace(mid[1] - half, mid[1] + half, 5)
    for g in gx:
        ax.plot([g, g], [gz[0], gz[-1]], [0, 0], color="0.85", lw=0.5)
    for g in gz:
        ax.plot([gx[0], gx[-1]], [g, g], [0, 0], color="0.85", lw=0.5)
    ax.plot(joints[:, 0, 0], joints[:, 0, 2], np.zeros(len(joints)), color="tab:orange", lw=1.0)
    for k, t in enumerate(frames):
        alpha = 0.25 + 0.75 * (k + 1) / len(frames)
        for j, p in enumerate(spec.parents):
            if p < 0:
                continue
            a, b = joints[t, p], joints[t, j]
            ax.plot([a[0], b[0]], [a[2], b[2]], [a[1], b[1]], color="tab:blue", alpha=alpha, lw=1.2)
        for f in spec.foot_joints:
            ax.scatter(joints[t, f, 0], joints[t, f, 2], joints[t, f, 1], s=3, color="tab:red", alpha=alpha)
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[1] - half, mid[1] + half)
    ax.set_zlim(0, 2 * half)
    ax.set_box_aspect((1, 1, 1))
    ax.view_init(elev=20, azim=-60)
    ax.set_axis_off()
    ax.set_title("\n".join(textwrap.wrap(caption, 38)[:3]), fontsize=fontsize)


def default_clips(root: Path, n: int) -> list[str]:
    """A spread of clips: the first test clip of each species and a few people."""
    picks = []
    for group in ("animals", "people"):
        folder = MotionFolder(root / group, min_length=2)
        labels = folder.labels()
        seen = set()
        for cid in folder.split_ids("test"):
            key = labels[cid]["species"] if group == "animals" else labels[cid]["actions"][0]
            if key not in seen:
                seen.add(key)
                picks.append(cid)
    animals = [c for c in picks if c.startswith("A")]
    people = [c for c in picks if c.startswith("H")]
    k = min(len(animals), max(n - n // 3, n - len(people)))
    return animals[:k] + people[:n - k]


def contact_sheet(root: str | Path, out: str | Path, clips: list[str] | None = None, n: int = 12,
                  cols: int = 4, dpi: int = 60) -> Path:
    root, out = Path(root), Path(out)
    clips = clips or default_clips(root, n)
    rows = int(np.ceil(len(clips) / cols))
    fig = plt.figure(figsize=(3.0 * cols, 3.2 * rows))
    for i, cid in enumerate(clips):
        joints, spec, caption = _load(root, cid)
        ax = fig.add_subplot(rows, cols, i + 1, projection="3d")
        frames = np.linspace(0, len(joints) - 1, 5).astype(int)
        _draw(ax, joints, spec, frames, f"{cid}: {caption}")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    plt.close(fig)
    return out


def video(root: str | Path, clip_id: str, out: str | Path, size: int = 360, every: int = 1) -> Path:
    """An mp4 of one clip (every `every`-th frame): the skeleton, its ground path and its caption."""
    from utils.render import render_video

    joints, spec, caption = _load(Path(root), clip_id)
    return render_video(joints[::every], spec, out, title=f"{clip_id}: {caption}", fps=spec.fps / every, size=size)
