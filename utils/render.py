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


def draw_frame(ax, joints: np.ndarray, t: int, spec: SkeletonSpec, colors: list[str], radius: float) -> None:
    """Frame t on a 3D axis: a ground grid around the root (fixed in the world, so motion shows against it),
    the root's trail so far and the bones; the view follows the root."""
    ax.cla()
    c = joints[t, 0]
    for v in np.linspace(-radius, radius, 7):
        gx = np.round((c[0] + v) / (2 * radius / 6)) * (2 * radius / 6)
        gz = np.round((c[2] + v) / (2 * radius / 6)) * (2 * radius / 6)
        ax.plot([gx, gx], [c[2] - radius, c[2] + radius], [0, 0], color="0.85", lw=0.6)
        ax.plot([c[0] - radius, c[0] + radius], [gz, gz], [0, 0], color="0.85", lw=0.6)
    trail = joints[: t + 1, 0].copy()
    trail[np.abs(trail[:, [0, 2]] - c[[0, 2]]).max(-1) > radius] = np.nan  # only the part inside the view
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


def _radius(joints: np.ndarray) -> float:
    return max(0.6 * float(np.ptp(joints[0], axis=0).max()), 0.5)


def render_filmstrip(motions: list[tuple[np.ndarray, SkeletonSpec, str]], path: str | Path, frames: int = 5,
                     cell: float = 1.6) -> Path:
    """A PNG with one row per (joints, spec, caption): `frames` evenly spaced frames of each motion."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = plt.figure(figsize=(cell * frames, cell * len(motions) * 1.15), dpi=80)
    for r, (joints, spec, caption) in enumerate(motions):
        joints = np.asarray(joints, dtype=np.float64)
        colors, radius = _bone_colors(spec), _radius(joints)
        top = 1 - r / len(motions)
        fig.text(0.01, top - 0.01, caption, ha="left", va="top", fontsize=9)
        for k, t in enumerate(np.linspace(0, len(joints) - 1, frames).round().astype(int)):
            ax = fig.add_axes([k / frames, top - 1 / len(motions), 1 / frames, 0.87 / len(motions)],
                              projection="3d")
            draw_frame(ax, joints, int(t), spec, colors, radius)
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def render_video(joints: np.ndarray, spec: SkeletonSpec, path: str | Path, title: str = "", fps: float | None = None,
                 size: int = 320, view_radius: float | None = None) -> Path:
    """(T, J, 3) joints (metres, Y up) -> an H.264 mp4 at `path` (written atomically). Returns the path."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
        raise ValueError(f"joints must be (T, {spec.num_joints}, 3) for skeleton {spec.name!r}, got {joints.shape}")
    fps = fps or spec.fps
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    radius = view_radius or _radius(joints)
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
            draw_frame(ax, joints, t, spec, colors, radius)
            fig.canvas.draw()
            frame = np.asarray(fig.canvas.buffer_rgba())[..., :3]
            writer.send(np.ascontiguousarray(frame))
        writer.close()
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path
