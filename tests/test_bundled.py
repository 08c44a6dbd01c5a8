"""The bundled models (checkpoints/): complete, small, consistent, used by default, and doing what the text says."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch

from conftest import random_motion
from eval.evaluator import TextMotionEvaluator
from models import bundled
from models.lifter import Lifter
from models.mask_transformer.length_estimator import LengthEstimator
from models.mask_transformer.mask_transformer import MaskTransformer
from models.mask_transformer.pipeline import T2MPipeline
from models.mask_transformer.residual_transformer import ResidualTransformer
from models.vq.rvqvae import RVQVAE, create_rvqvae
from utils.bvh import bvh_to_joints
from utils.kinematics import forward_kinematics, inverse_kinematics
from utils.skeleton import HUMANML22, get_skeleton

ROOT = Path(__file__).resolve().parents[1]
CLASSES = {"tokenizer": RVQVAE, "mask_transformer": MaskTransformer, "residual_transformer": ResidualTransformer,
           "length_estimator": LengthEstimator, "lifter": Lifter, "evaluator": TextMotionEvaluator}


def _run(script, *args, env=None, timeout=600):
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def pipes():
    return {d: T2MPipeline.from_folder(bundled.folder(d), device="cpu") for d in bundled.DATASETS}


def test_bundle_is_complete_within_60_mb_and_every_file_loads():
    manifest = json.loads((bundled.root() / "manifest.json").read_text())
    listed = {r["file"]: r for r in manifest["files"]}
    total = 0
    for d in bundled.DATASETS:
        for key, cls in CLASSES.items():
            path = bundled.bundled(d, key)
            row = listed[f"{d}/{path.name}"]
            assert row["bytes"] == path.stat().st_size
            model = cls.load(path)
            assert model.checkpoint_sha256 == row["sha256"]
            assert all(p.dtype == torch.float32 for p in model.parameters())  # stored float16, run float32
            total += path.stat().st_size
    assert total <= 60 * 2**20
    assert {bundled.dataset_for_species(s) for s in ("human", " Human ")} == {"people"}
    assert {bundled.dataset_for_species(s) for s in ("dog", "okapi")} == {"animals"}


def test_bundled_pipelines_pair_up_and_follow_direction(pipes):
    for d, species in (("people", "human"), ("animals", "dog")):
        pipe = pipes[d]
        assert pipe.residual is not None and pipe.length_estimator is not None
        forward = pipe.generate([f"a {'person' if d == 'people' else 'dog'} walks forward"] * 3, [species] * 3,
                                ["female"] * 3, ["4s"] * 3, seed=0)
        backward = pipe.generate([f"a {'person' if d == 'people' else 'dog'} walks backward"] * 3, [species] * 3,
                                 ["female"] * 3, ["4s"] * 3, seed=0)
        # generated motions start facing +Z: forward ends well ahead, backward well behind
        assert all(m.joints[-1, 0, 2] - m.joints[0, 0, 2] > 1.0 for m in forward), d
        assert all(m.joints[-1, 0, 2] - m.joints[0, 0, 2] < -1.0 for m in backward), d


def test_bundled_pipelines_name_the_words_their_training_captions_never_used(pipes):
    assert pipes["people"].unfamiliar_words("A man walked forward quickly and jumped twice") == []
    assert pipes["people"].unfamiliar_words("the person tears along flat out") == ["tears", "along", "flat", "out"]
    assert pipes["animals"].unfamiliar_words("a young cat trots forward, then sits down") == []
    assert pipes["animals"].unfamiliar_words("the dog goes like the wind") == ["like", "wind"]


def test_demo_writes_joints_features_bvh_and_video(tmp_path):
    (tmp_path / "prompts.txt").write_text("horse#female#a horse trots forward\nhuman#juvenile#a child jumps in place\n")
    r = _run("demo.py", "--prompts", tmp_path / "prompts.txt", "--out", tmp_path / "demo")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "demo" / "overview.png").stat().st_size > 10_000
    folders = sorted(f for f in (tmp_path / "demo").iterdir() if f.is_dir())
    assert [f.name.split("_")[1] for f in folders] == ["horse", "human"]
    for f, joints_per_frame in zip(folders, (30, 22)):
        joints = np.load(f / "joints.npy")
        assert joints.shape[1:] == (joints_per_frame, 3) and np.isfinite(joints).all()
        assert np.load(f / "features.npy").shape[0] == len(joints)
        spec = get_skeleton("animo30" if joints_per_frame == 30 else "humanml22")
        back = bvh_to_joints(f / "motion.bvh", spec)
        # the BVH holds the rigid fit of the generated joints (their bone lengths vary): exact to that fit ...
        local, offsets = inverse_kinematics(spec, joints, track=True)
        fitted = forward_kinematics(spec, local, joints[:, 0], offsets)
        assert np.abs(back - fitted).max() < 1e-3
        # ... and close to the generated joints
        assert np.linalg.norm(back - joints, axis=-1).mean() < 0.04
        reader = imageio_ffmpeg.read_frames(str(f / "motion.mp4"))
        next(reader)
        assert sum(1 for _ in reader) == len(joints)
        assert json.loads((f / "prompt.json").read_text())["frames"] == len(joints)
    assert "travelled" in r.stdout and str(tmp_path / "demo") in r.stdout
    (tmp_path / "bad.txt").write_text("horse#a horse trots\n")
    r = _run("demo.py", "--prompts", tmp_path / "bad.txt", "--out", tmp_path / "x")
    assert r.returncode != 0 and "is not species#gender#text" in r.stderr and "Traceback" not in r.stderr


def test_commands_default_to_the_bundle(tmp_path):
    r = _run("gen_t2m.py", "--text", "a man runs forward quickly", "--species", "human", "--no-video",
             "--out", tmp_path / "gen")
    assert r.returncode == 0, r.stderr
    sample = next((tmp_path / "gen").iterdir())
    assert np.load(sample / "joints.npy").shape[1:] == (22, 3)
    assert bvh_to_joints(sample / "motion.bvh", HUMANML22).shape == np.load(sample / "joints.npy").shape

    np.save(tmp_path / "clip.npy", random_motion(HUMANML22, T=50, seed=0))  # joints: the people tokenizer
    r = _run("tokenize_motion.py", "encode", "--input", tmp_path / "clip.npy", "--species", "human", "--gender",
             "female", "--out", tmp_path / "codes.npy")
    assert r.returncode == 0, r.stderr
    recorded = json.loads((tmp_path / "codes.json").read_text())
    assert recorded["checkpoint"] == str(bundled.bundled("people", "tokenizer")) and recorded["skeleton"] == "humanml22"
    r = _run("tokenize_motion.py", "decode", "--input", tmp_path / "codes.npy", "--out", tmp_path / "back.npy")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "back.npy").shape == (49, HUMANML22.feature_dim)

    rng = np.random.default_rng(0)
    for joints, want in ((17, (22, 3)), (30, (30, 3))):  # video keypoints -> people, animal keypoints -> animals
        np.save(tmp_path / f"kp{joints}.npy", rng.uniform(100, 300, (24, joints, 2)))
        r = _run("lift.py", "--input", tmp_path / f"kp{joints}.npy", "--no-video", "--out", tmp_path / f"l{joints}")
        assert r.returncode == 0, r.stderr
        assert np.load(tmp_path / f"l{joints}_joints.npy").shape == (24, *want)
    np.save(tmp_path / "kp5.npy", rng.uniform(100, 300, (24, 5, 2)))
    r = _run("lift.py", "--input", tmp_path / "kp5.npy", "--out", tmp_path / "l5")
    assert r.returncode != 0 and "no bundled lifter reads 5 keypoints" in r.stderr

    env = {**__import__("os").environ, "ZOOMOTION_CHECKPOINTS": str(tmp_path / "nowhere")}
    r = _run("gen_t2m.py", "--text", "a dog sits", "--out", tmp_path / "x", env=env)
    assert r.returncode != 0 and "is not a checkpoint folder" in r.stderr and "Traceback" not in r.stderr


def test_bundling_relinks_the_pair_and_refuses_a_mismatch(tmp_path):
    runs = tmp_path / "runs"
    sources = {"tokenizer": "vq_animals/model.safetensors", "mask_transformer": "t2m_animals/model.safetensors",
               "residual_transformer": "res_animals/model.safetensors",
               "length_estimator": "t2m_animals/length_estimator.safetensors",
               "body_estimator": "t2m_animals/body_estimator.safetensors",
               "lifter": "lift_animals/model.safetensors", "evaluator": "eval_animals/model.safetensors"}
    for key, rel in sources.items():
        (runs / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(bundled.bundled("animals", key), runs / rel)
    r = _run("bundle_models.py", "--runs", runs, "--out", tmp_path / "out", "--datasets", "animals",
             "--dtype", "float32")
    assert r.returncode == 0, r.stderr
    pipe = T2MPipeline.from_folder(tmp_path / "out" / "animals", device="cpu")  # the pair check passes
    src = RVQVAE.load(bundled.bundled("animals", "tokenizer"))
    for a, b in zip(src.parameters(), pipe.tokenizer.parameters()):
        assert torch.equal(a, b)  # float16 values kept exactly in float32
    # bundling the same runs again leaves every file byte for byte (no binary churn in git)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out" / "animals").iterdir()}
    r = _run("bundle_models.py", "--runs", runs, "--out", tmp_path / "out", "--datasets", "animals",
             "--dtype", "float32")
    assert r.returncode == 0 and r.stdout.count("unchanged, left as it is") == len(before), r.stdout
    assert {p.name: p.read_bytes() for p in (tmp_path / "out" / "animals").iterdir()} == before
    shutil.rmtree(runs / "lift_animals")  # a data set without a lifter run: the rest is bundled
    r = _run("bundle_models.py", "--runs", runs, "--out", tmp_path / "out3", "--datasets", "animals")
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "out3" / "animals").iterdir()) == sorted(
        name for key, name in bundled.FILES.items() if key != "lifter")  # every file of the bundle but the lifter
    torch.manual_seed(0)
    create_rvqvae("tiny", skeleton="animo30").save(runs / sources["tokenizer"])
    r = _run("bundle_models.py", "--runs", runs, "--out", tmp_path / "out2", "--datasets", "animals")
    assert r.returncode != 0 and "was trained on another tokenizer" in r.stderr and "Traceback" not in r.stderr
