import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_motion
from models.vq.rvqvae import RVQVAE, create_rvqvae
from train_vq import VQTask
from utils.dataset import Caption, ClipRecord, MotionFolder, write_dataset
from utils.skeleton import ANIMO30
from utils.training import TrainConfig, lr_lambda, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def random_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("rand")
    clips = [ClipRecord(f"c{i:02d}", random_motion(ANIMO30, T=72, seed=i), [Caption("it moves")],
                        species=("dog", "cat")[i % 2], gender="male") for i in range(24)]
    ids = [c.id for c in clips]
    write_dataset(root, clips, {"train": ids[:20], "val": ids[20:]}, ANIMO30)
    return root


def _task(folder_root):
    torch.manual_seed(0)
    model = create_rvqvae("tiny", skeleton="animo30")
    return VQTask(model, MotionFolder(folder_root), window=32, val_items=4, ric_weight=0.5, vel_weight=0.5)


def _cfg(out, steps=12, **fields):
    return TrainConfig(**{**dict(out_dir=str(out), max_steps=steps, batch_size=4, lr=1e-3, warmup_steps=2,
                                 log_every=3, val_every=0, ckpt_every=4, progress=False), **fields})


class Killed(Exception):
    pass


def test_resume_after_a_kill_matches_an_uninterrupted_run(random_folder, tmp_path):
    train(_task(random_folder), _cfg(tmp_path / "straight"))

    def kill_at_9(step):
        if step == 9:  # after the checkpoint at step 8, before the next one
            raise Killed

    with pytest.raises(Killed):
        train(_task(random_folder), _cfg(tmp_path / "killed"), on_step=kill_at_9)
    with pytest.raises(FileExistsError, match="pass --resume"):
        train(_task(random_folder), _cfg(tmp_path / "killed"))
    train(_task(random_folder), _cfg(tmp_path / "killed"), resume=True)

    a = RVQVAE.load(tmp_path / "straight" / "model.safetensors").state_dict()
    b = RVQVAE.load(tmp_path / "killed" / "model.safetensors").state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6), k
    # the codebook really moved during training, so the comparison means something
    fresh = create_rvqvae("tiny", skeleton="animo30").state_dict()
    assert any(not torch.allclose(a[k], fresh[k]) for k in a if "codebook" in k or "embed" in k)
    # the log too: the row the killed run wrote at step 9 is replaced by the resumed run's, not doubled
    logs = [np.genfromtxt(tmp_path / run / "metrics.csv", delimiter=",", names=True) for run in ("straight", "killed")]
    assert logs[0]["step"].tolist() == logs[1]["step"].tolist() == [3, 6, 9, 12]
    # (row 9 of the resumed run averages step 9 alone, the others average the same steps)
    assert np.allclose(logs[0]["loss"][[0, 1, 3]], logs[1]["loss"][[0, 1, 3]], rtol=1e-5)


def test_ema_weights_are_validated_exported_and_resumed(random_folder, tmp_path):
    decay, raw = 0.9, []
    task = _task(random_folder)
    validated = []
    task_validate = task.validate
    task.validate = lambda m: (validated.append(m), task_validate(m))[1]
    record = lambda step: raw.append({k: p.detach().clone() for k, p in task.model.named_parameters()})
    cfg = dict(ema_decay=decay, val_every=12)
    train(task, _cfg(tmp_path / "straight", **cfg), on_step=record)

    # the average by hand: the first update copies, the n-th (n >= 1 averaged before) moves by 1 - decay_n
    want = dict(raw[0])
    for n, w in enumerate(raw[1:], start=1):
        d = min(decay, (1 + n) / (10 + n))
        want = {k: d * want[k] + (1 - d) * w[k] for k in want}
    got = RVQVAE.load(tmp_path / "straight" / "model.safetensors")
    params = dict(got.named_parameters())
    assert params.keys() == want.keys()
    for k in want:
        assert torch.allclose(params[k], want[k], atol=1e-5), k
    assert any(not torch.allclose(params[k], raw[-1][k], atol=1e-4) for k in want)  # not the trained weights
    # the buffers (the codebooks' EMA state) are the trained model's, and validation saw the average
    trained = dict(task.model.named_buffers())
    for k, b in got.named_buffers():
        assert torch.equal(b, trained[k]), k
    assert validated and validated[-1] is not task.model
    for k, v in validated[-1].named_parameters():  # the last validation ran at the last step
        assert torch.equal(v, params[k]), k

    def kill_at_9(step):
        if step == 9:
            raise Killed

    with pytest.raises(Killed):
        train(_task(random_folder), _cfg(tmp_path / "killed", **cfg), on_step=kill_at_9)
    train(_task(random_folder), _cfg(tmp_path / "killed", **cfg), resume=True)
    resumed = RVQVAE.load(tmp_path / "killed" / "model.safetensors").state_dict()
    for k, v in got.state_dict().items():
        assert torch.allclose(resumed[k], v, atol=1e-6), k

    with pytest.raises(ValueError, match=r"ema_decay must lie in \(0, 1\)"):
        train(_task(random_folder), _cfg(tmp_path / "bad", ema_decay=1.5))


def test_training_on_the_small_zoo_halves_the_reconstruction_loss(small_zoo, tmp_path):
    torch.manual_seed(0)
    folder = MotionFolder(small_zoo / "animals")
    task = VQTask(create_rvqvae("tiny", skeleton=folder.spec), folder, window=32, val_items=8, ric_weight=0.5,
                  vel_weight=0.5)
    before = task.validate(task.model)
    cfg = TrainConfig(out_dir=str(tmp_path / "zoo"), max_steps=400, batch_size=32, lr=3e-3, warmup_steps=20,
                      log_every=20, val_every=400, ckpt_every=400, progress=False)
    last = train(task, cfg)
    log = np.genfromtxt(tmp_path / "zoo" / "metrics.csv", delimiter=",", names=True)
    # the joint positions' reconstruction (the tiny config's 16-dim codes learn the 6D joint rotations slowly)
    for name in ("joint_mm", "ric"):
        assert log[name][-1] <= 0.5 * log[name][0], (name, log[name])
    assert log["loss"][-1] <= 0.6 * log["loss"][0], log["loss"]
    # held-out clips, with trajectory: the decoder's own output, and what users get, refitted to each clip's skeleton
    assert last["val_mpjpe_mm_unfitted"] <= 0.7 * before["mpjpe_mm_unfitted"], (before, last)
    assert last["val_mpjpe_mm"] < last["val_mpjpe_mm_unfitted"], last


def test_joint_loss_is_the_body_frame_position_error(random_folder, monkeypatch):
    task = _task(random_folder)
    model, s = task.model, task.model.spec.slices
    heights = [s.root_height.start, *range(s.ric.start + 1, s.ric.stop, 3)]
    lift = torch.zeros(model.spec.feature_dim)
    lift[heights] = 0.01 / model.std[heights]  # a reconstruction with every joint 1 cm too high
    monkeypatch.setattr(model, "forward",
                        lambda x, cond, mask=None: {"recon": x + lift, "commit_loss": torch.zeros(())})
    batch = task.collate_fn([task.dataset[i] for i in range(4)])
    losses = {}
    for w in (0.0, 2.0):
        task.loss_weights["joint"] = w
        losses[w], logs = task.loss(model, batch)
        assert logs["joint_mm"] == pytest.approx(10.0, rel=1e-4)
    assert float(losses[2.0] - losses[0.0]) == pytest.approx(0.02, rel=1e-4)


def test_resume_without_a_checkpoint_is_explained(random_folder, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        train(_task(random_folder), _cfg(tmp_path / "empty"), resume=True)


def test_two_process_accelerate_run_completes(random_folder, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           str(ROOT / "train_vq.py"), "--data", str(random_folder), "--out", str(out), "--config", "tiny",
           "--max-steps", "6", "--batch-size", "4", "--window", "32", "--ckpt-every", "3", "--val-every", "6",
           "--log-every", "3", "--warmup-steps", "1", "--ema-decay", "0.9", "--no-progress"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count('"step": 6') == 1  # the metrics, printed by the main process only
    model = RVQVAE.load(out / "model.safetensors")
    assert np.isfinite(sum(float(v.float().sum()) for v in model.state_dict().values()))
    assert model.checkpoint_extra["loss_weights"] == {"ric": 0.5, "vel": 0.5, "root": 1.0, "heading": 1.0, "rot": 1.0,
                                                      "joint": 1.0}
    assert (out / "metrics.csv").read_text().count("\n") == 3  # header + steps 3 and 6
    # the learning-rate schedule counts optimizer steps, as in one process (not one step per process)
    cfg = TrainConfig(**json.loads((out / "train_config.json").read_text()))
    log = np.genfromtxt(out / "metrics.csv", delimiter=",", names=True)
    assert np.allclose(log["lr"], [cfg.lr * lr_lambda(cfg)(s) for s in (3, 6)], rtol=1e-4)
    assert log["lr"][0] > 10 * log["lr"][1]


def test_eval_vq_command_writes_json_and_markdown(random_folder, tmp_path):
    torch.manual_seed(0)
    model = create_rvqvae("tiny", skeleton="animo30")
    model.set_normalization(*MotionFolder(random_folder).mean_std())
    model.save(tmp_path / "vq.safetensors")
    run = subprocess.run([sys.executable, str(ROOT / "eval_vq.py"), "--checkpoint", str(tmp_path / "vq.safetensors"),
                          "--data", str(random_folder), "--split", "val", "--out", str(tmp_path / "report")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    r = report[f"{random_folder.name}/val"]
    assert r["items"] == 4 and len(r["mpjpe_mm_by_layers"]) == 3 and set(r["mpjpe_mm_by_species"]) == {"dog", "cat"}
    # refitted to each clip's rest skeleton, and the decoder's own output
    assert np.isfinite(r["mpjpe_mm"]) and np.isfinite(r["mpjpe_mm_unfitted"])
    assert "| " + f"{random_folder.name}/val" in (tmp_path / "report.md").read_text()
    bad = subprocess.run([sys.executable, str(ROOT / "eval_vq.py"), "--checkpoint", str(tmp_path / "vq.safetensors"),
                          "--data", str(random_folder), "--split", "nope", "--out", str(tmp_path / "r2")],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "unknown split 'nope'" in bad.stderr and "Traceback" not in bad.stderr
