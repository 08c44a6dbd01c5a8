import json
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch

from conftest import random_motion
from models.lifter import Lifter, LifterConfig
from utils.features import canonicalize
from utils.render import render_video
from utils.skeleton import ANIMO30, HUMANML22

ROOT = Path(__file__).resolve().parents[1]


def _frames(path: Path) -> int:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    n = sum(1 for _ in reader)
    assert meta["size"] == (160, 160)
    return n


def test_render_video_writes_every_frame(tmp_path):
    joints = canonicalize(random_motion(ANIMO30, T=12, seed=0), ANIMO30)
    path = render_video(joints, ANIMO30, tmp_path / "a.mp4", title="a dog", size=160)
    assert path.is_file() and _frames(path) == 12
    assert not list(tmp_path.glob(".*tmp*"))
    with pytest.raises(ValueError, match=r"\(T, 30, 3\) for skeleton 'animo30'"):
        render_video(joints[:, :22], ANIMO30, tmp_path / "b.mp4")


def test_lift_command_on_a_long_coco_json_with_gaps(tmp_path):
    torch.manual_seed(0)
    Lifter(LifterConfig(input_skeleton="h36m17", output_skeleton="humanml22", backbone="tiny", window=16)).save(
        tmp_path / "lift.safetensors")
    rng = np.random.default_rng(0)
    frames = []
    for t in range(40):  # longer than the 16-frame window; two frames without a detection
        kp = np.concatenate([rng.uniform(200, 400, (17, 2)), rng.uniform(0.5, 1, (17, 1))], 1)
        frames.append([] if t in (7, 8) else {"keypoints": kp.flatten().tolist()})
    (tmp_path / "kp.json").write_text(json.dumps(frames))
    r = subprocess.run([sys.executable, str(ROOT / "lift.py"), "--checkpoint", str(tmp_path / "lift.safetensors"),
                        "--input", str(tmp_path / "kp.json"), "--layout", "coco17", "--image-size", "640", "480",
                        "--out", str(tmp_path / "out" / "clip")], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    joints = np.load(tmp_path / "out" / "clip_joints.npy")
    assert joints.shape == (40, 22, 3) and np.isfinite(joints).all()
    assert np.load(tmp_path / "out" / "clip_features.npy").shape == (39, HUMANML22.feature_dim)
    assert (tmp_path / "out" / "clip.mp4").is_file()
    (tmp_path / "bad.json").write_text("[]")
    r = subprocess.run([sys.executable, str(ROOT / "lift.py"), "--checkpoint", str(tmp_path / "lift.safetensors"),
                        "--input", str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "bad.json: holds no frames" in r.stderr and "Traceback" not in r.stderr
