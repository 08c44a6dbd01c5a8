import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_motion
from models.vq.codec import MotionCodec
from models.vq.rvqvae import create_rvqvae
from utils.features import joints_to_features
from utils.kinematics import estimate_offsets
from utils.skeleton import ANIMO30, HUMANML22

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = create_rvqvae("tiny", skeleton="animo30")
    for p in model.parameters():  # FiLM starts as the identity and the body projection as zero; make them matter
        torch.nn.init.normal_(p, std=0.1) if p.ndim > 1 else None
    path = tmp_path_factory.mktemp("ckpt") / "vq.safetensors"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def codec(checkpoint):
    return MotionCodec.from_checkpoint(checkpoint, device="cpu")


def test_any_length_is_padded_then_cropped_back(codec):
    joints = random_motion(ANIMO30, T=51, seed=0)  # 50 feature frames, not a multiple of 4
    enc = codec.encode(joints, "dog", "male")
    assert enc.frames == 50 and enc.codes.shape == (13, 3) and enc.codes.dtype == np.int64
    feats = codec.decode(enc.codes, "dog", "male", frames=enc.frames)
    assert feats.shape == (50, 359)
    # features and joints give the same codes
    assert np.array_equal(codec.encode(joints_to_features(joints, ANIMO30)[0], "dog", "male").codes, enc.codes)
    assert codec.decode_joints(enc.codes, "dog", "male", 50).shape == (50, 30, 3)
    # the body travels beside the codes and gives the clip's proportions back
    assert enc.body.shape == (29,) and enc.body.dtype == np.float32
    bones = np.linalg.norm(joints[:, 1:] - joints[:, list(ANIMO30.parents[1:])], axis=-1).mean(0)
    assert np.allclose(enc.body, np.log(bones / ANIMO30.bone_lengths[1:]), atol=1e-4)
    with_body = codec.decode(enc.codes, "dog", "male", frames=enc.frames, body=enc.body)
    assert with_body.shape == (50, 359) and not np.allclose(with_body, feats)
    # so does its rest skeleton, to which the decoded joints are refitted: every bone gets its length back
    canon = joints_to_features(joints, ANIMO30)[1]
    assert enc.offsets.shape == (30, 3) and enc.offsets.dtype == np.float32
    assert np.allclose(enc.offsets, estimate_offsets(ANIMO30, canon[:-1]), atol=1e-5)
    fitted = codec.decode_joints(enc.codes, "dog", "male", 50, body=enc.body, offsets=enc.offsets)
    lengths = np.linalg.norm(fitted[:, 1:] - fitted[:, list(ANIMO30.parents[1:])], axis=-1)  # (T, J-1)
    assert np.allclose(lengths, np.linalg.norm(enc.offsets[1:], axis=-1), atol=1e-4)


def test_bad_motions_are_explained(codec):
    with pytest.raises(ValueError, match=r"skeleton 'animo30' needs \(T, 359\) features or \(T, 30, 3\) joints"):
        codec.encode(np.zeros((40, 263), np.float32), "dog", "male")
    with pytest.raises(ValueError, match=r"joints have shape \(40, 22, 3\); this tokenizer's skeleton 'animo30'"):
        codec.encode(random_motion(HUMANML22, T=40), "dog", "male")
    nan = np.zeros((40, 359), np.float32)
    nan[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or Inf"):
        codec.encode(nan, "dog", "male")
    with pytest.raises(ValueError, match="3 frames, shorter than one token \\(4 frames\\)"):
        codec.encode(np.zeros((3, 359), np.float32), "dog", "male")
    with pytest.raises(ValueError, match=r"codes must be an integer array of shape \(T / 4, 3\)"):
        codec.decode(np.zeros((5, 6), np.int64), "dog", "male")
    with pytest.raises(ValueError, match="frames=30 does not fit 5 tokens"):
        codec.decode(np.zeros((5, 3), np.int64), "dog", "male", frames=30)
    with pytest.raises(ValueError, match=r"offsets must be the clip's finite \(30, 3\) rest offsets"):
        codec.decode(np.zeros((5, 3), np.int64), "dog", "male", offsets=np.ones((29, 3)))


def _run(*args):
    return subprocess.run([sys.executable, str(ROOT / "tokenize_motion.py"), *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_command_line_round_trip(checkpoint, codec, tmp_path):
    joints = random_motion(ANIMO30, T=43, seed=2)
    np.save(tmp_path / "clip.npy", joints)
    r = _run("encode", "--checkpoint", checkpoint, "--input", tmp_path / "clip.npy", "--species", "cat",
             "--gender", "female", "--out", tmp_path / "codes.npy")
    assert r.returncode == 0, r.stderr
    codes = np.load(tmp_path / "codes.npy")
    assert codes.shape == (11, 3)
    meta = json.loads((tmp_path / "codes.json").read_text())
    assert meta["frames"] == 42 and len(meta["body"]) == 29 and np.shape(meta["offsets"]) == (30, 3)
    r = _run("decode", "--checkpoint", checkpoint, "--input", tmp_path / "codes.npy", "--out", tmp_path / "f.npy",
             "--joints-out", tmp_path / "j.npy")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "f.npy").shape == (42, 359) and np.load(tmp_path / "j.npy").shape == (42, 30, 3)
    enc = codec.encode(joints, "cat", "female")
    assert np.allclose(np.load(tmp_path / "f.npy"),
                       codec.decode(codes, "cat", "female", 42, body=enc.body, offsets=enc.offsets), atol=1e-5)
    # a damaged side file is named, with the field and the fix
    side = tmp_path / "codes.json"
    args = ("decode", "--checkpoint", checkpoint, "--input", tmp_path / "codes.npy", "--out", tmp_path / "g.npy")
    side.write_text(json.dumps({**meta, "offsets": meta["offsets"][:-1]}))
    r = _run(*args)
    assert r.returncode != 0 and f"{side}: field 'offsets' must hold 30 x 3 finite numbers" in r.stderr
    side.write_text(json.dumps({**meta, "body": ["a"] * 29}))
    r = _run(*args)
    assert r.returncode != 0 and f"{side}: field 'body' must hold 29 finite numbers" in r.stderr
    side.write_text("{not json")
    r = _run(*args)
    assert r.returncode != 0 and f"{side} is not valid JSON" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "g.npy").exists()


def test_command_line_errors(checkpoint, tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    np.save(tmp_path / "clip.npy", np.zeros((40, 263), np.float32))
    r = _run("encode", "--checkpoint", tmp_path / "junk.safetensors", "--input", tmp_path / "clip.npy",
             "--species", "dog", "--gender", "male", "--out", tmp_path / "c.npy")
    assert r.returncode != 0 and "junk.safetensors: not a readable safetensors checkpoint" in r.stderr
    r = _run("encode", "--checkpoint", checkpoint, "--input", tmp_path / "clip.npy", "--species", "dog",
             "--gender", "male", "--out", tmp_path / "c.npy")
    assert r.returncode != 0 and "skeleton 'animo30' needs (T, 359)" in r.stderr
    assert "Traceback" not in r.stderr
