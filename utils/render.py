"""Render a skeleton motion to an mp4: the 3D skeleton, a ground grid, the root's trail and a caption.

Frames are drawn with matplotlib (Agg) and encoded with the ffmpeg binary that imageio-ffmpeg ships, so it works
on a machine with no system ffmpeg. The camera follows the root so long walks stay in view.
"""
from __future__ import annotations

import os
import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import imageio_ffmpeg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from utils.skeleton import SkeletonSpec  # noqa: E402


def _bone_colors(spec: SkeletonSpec) -> list[str]:
    """Left limbs blue, right limbs red, the rest dark grey."""
    left = {a for a, _ in spec.mirror_pairs}
    right = {b for _, b in spec.mirror_pairs}
    return ["tab:blue" if j in left else "tab:red" if j in right else "0.2" for j in range(spec.num_joints)]


def render_video(joints: np.ndarray, spec: SkeletonSpec, path: str | Path, title: str = "", fps: float | None = None,
                 size: int = 320, view_radius: float | None = None) -> Path:
    """(T, J, 3) joints (metres, Y up) -> an H.264 mp4 at `path` (written atomically). Returns the path."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
        raise ValueError(f"joints must be (T, {spec.num_joints}, 3) for skeleton {spec.name!r}, got {joints.shape}")
    fps = fps or spec.fps
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extent = float(np.ptp(joints[0], axis=0).max())
    radius = view_radius or max(0.6 * extent, 0.5)
    colors = _bone_colors(spec)
    dpi = 80
    fig = plt.figure(figsize=(size / dpi, size / dpi), dpi=dpi)
    ax = fig.add_axes([0, 0, 1, 0.86], projection="3d")
    fig.text(0.5, 0.98, "\n".join(textwrap.wrap(title, 48)[:2]), ha="center", va="top", fontsize=8)
    tmp = path.with_name(f".{path.name}.tmp.mp4")
    writer = imageio_ffmpeg.write_frames(str(tmp), (size, size), fps=fps, codec="libx264", pix_fmt_out="yuv420p",
                                         macro_block_size=16, quality=6, ffmpeg_log_level="error")
    writer.send(None)
    try:
        for t in range(len(joints)):
            ax.cla()
            c = joints[t, 0]
            g = np.linspace(-radius, radius, 7)
            for v in g:  # ground grid around the root, fixed in the world so motion shows against it
                gx = np.round((c[0] + v) / (2 * radius / 6)) * (2 * radius / 6)
                gz = np.round((c[2] + v) / (2 * radius / 6)) * (2 * radius / 6)
                ax.plot([gx, gx], [c[2] - radius, c[2] + radius], [0, 0], color="0.85", lw=0.6)
                ax.plot([c[0] - radius, c[0] + radius], [gz, gz], [0, 0], color="0.85", lw=0.6)
            trail = joints[: t + 1, 0]
            ax.plot(trail[:, 0], trail[:, 2], np.zeros(len(trail)), color="tab:orange", lw=1.2)
            for j, p in enumerate(spec.parents):
                if p >= 0:
                    a, b = joints[t, p], joints[t, j]
                    ax.plot([a[0], b[0]], [a[2], b[2]], [a[1], b[1]], color=colors[j], lw=2.0)
            ax.set_xlim(c[0] - radius, c[0] + radius)
            ax.set_ylim(c[2] - radius, c[2] + radius)
            ax.set_zlim(0, 2 * radius)
            ax.set_box_aspect((1, 1, 1))
            ax.view_init(elev=18, azim=-65)
            ax.set_axis_off()
            fig.canvas.draw()
            frame = np.asarray(fig.canvas.buffer_rgba())[..., :3]
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
