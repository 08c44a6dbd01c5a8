"""The lifting and evaluator trainers and their evaluation commands, end to end on small data."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_motion
from eval.evaluator import TextMotionEvaluator
from eval.t2m import embed_motions
from models.lifter import Lifter
from models.text_encoder import CaptionBank
from utils.dataset import Caption, ClipRecord, MotionFolder, write_dataset
from utils.skeleton import HUMANML22

ROOT = Path(__file__).resolve().parents[1]
ACTIONS = ["a person walks forward", "someone jumps in place", "the person turns around to the left"]


@pytest.fixture(scope="module")
def people_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("people")
    clips = []
    for i in range(80):
        action = i % 3  # a motion that matches its caption: a long walk, a bounce in place, a spin in place
        m = random_motion(HUMANML22, T=60, seed=i, turn_rate=0.15 if action == 2 else 0.0)
        m[..., [0, 2]] -= m[:, :1, [0, 2]] - m[:1, :1, [0, 2]]  # no travel of its own
        if action == 0:
            m = m + np.linspace(0, 6.0, 60)[:, None, None] * np.array([0.0, 0.0, 1.0])
        if action == 1:
            m = m + 0.5 * np.abs(np.sin(np.linspace(0, 3 * np.pi, 60)))[:, None, None] * np.array([0.0, 1.0, 0.0])
        clips.append(ClipRecord(f"p{i:02d}", m, [Caption(ACTIONS[action])], species="human", gender="male"))
    ids = [c.id for c in clips]
    write_dataset(root, clips, {"train": ids[:48], "val": ids[48:], "test": ids[48:]}, HUMANML22)
    return root


def _run(script, *args):
    return subprocess.run([sys.executable, str(ROOT / script), *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _csv_column(path: Path, name: str) -> list[float]:
    lines = path.read_text().splitlines()
    k = lines[0].split(",").index(name)
    return [float(r.split(",")[k]) for r in lines[1:] if r.split(",")[k]]


def test_lifter_learns_and_eval_lift_reports_it(people_folder, tmp_path):
    common = ["--data", people_folder, "--window", 16, "--batch-size", 8, "--lr", 2e-3, "--warmup-steps", 5,
              "--log-every", 5, "--ckpt-every", 20, "--no-progress", "--threads", 1]
    r = _run("train_lifter.py", *common, "--out", tmp_path / "dst", "--backbone", "tiny", "--max-steps", 60,
             "--val-every", 60)
    assert r.returncode == 0, r.stderr
    mpjpe = _csv_column(tmp_path / "dst" / "metrics.csv", "mpjpe")
    assert np.mean(mpjpe[-3:]) < 0.7 * np.mean(mpjpe[:2])
    model = Lifter.load(tmp_path / "dst" / "model.safetensors")
    assert model.input_spec.name == "h36m17" and model.output_spec.name == "humanml22" and model.config.window == 16
    assert model.checkpoint_extra == {"step": 60, "velocity_weight": 1.0}  # the loss weight is kept with the weights

    r = _run("eval_lift.py", "--checkpoint", tmp_path / "dst" / "model.safetensors", "--data", people_folder,
             "--out", tmp_path / "report")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    (name, res), = report.items()
    assert res["clips"] == 32 and 0 < res["p_mpjpe_mm"] <= res["mpjpe_mm"]
    assert res["seam_ratio"] == pytest.approx(res["accel_error_seams_mm"] / res["accel_error_inside_mm"])
    assert f"| {name} | 32 |" in (tmp_path / "report.md").read_text()

    animo = tmp_path / "animo.safetensors"
    Lifter(model.config.__class__(input_skeleton="animo30", output_skeleton="animo30", backbone="tiny")).save(animo)
    r = _run("eval_lift.py", "--checkpoint", animo, "--data", people_folder, "--out", tmp_path / "r2")
    assert r.returncode != 0 and "needs 'h36m17' to 'humanml22'" in r.stderr and "Traceback" not in r.stderr


def test_evaluator_learns_to_match_captions_and_eval_t2m_reports(people_folder, tmp_path):
    r = _run("train_evaluator.py", "--data", people_folder, "--out", tmp_path / "ev", "--backbone", "tiny",
             "--embed-dim", 16, "--batch-size", 16, "--lr", 3e-3, "--warmup-steps", 5, "--max-steps", 80,
             "--log-every", 10, "--val-every", 0, "--ckpt-every", 40, "--no-progress", "--threads", 1)
    assert r.returncode == 0, r.stderr
    loss = _csv_column(tmp_path / "ev" / "metrics.csv", "loss")
    assert np.mean(loss[-2:]) < 0.7 * loss[0]
    model = TextMotionEvaluator.load(tmp_path / "ev" / "model.safetensors")
    assert model.config.frame_stride == 4 and model.config.backbone == "tiny"
    assert model.checkpoint_extra["species_weight"] == 0.0  # one species: no classifier, whatever the flag said

    # each test motion is nearest to the caption of its own action among the three
    folder = MotionFolder(people_folder)
    items = folder.load_split("test")
    with torch.no_grad():
        motion = torch.from_numpy(embed_motions(model, [it.features for it in items]))
        text = model.encode_text(CaptionBank("minilm")(ACTIONS))
    predicted = (motion @ text.T).argmax(1)
    truth = torch.tensor([ACTIONS.index(it.captions[0].text) for it in items])
    assert (predicted == truth).float().mean() >= 0.8

    r = _run("eval_t2m.py", "--evaluator", tmp_path / "ev" / "model.safetensors", "--data", people_folder,
             "--repeats", 3, "--baselines", "--out", tmp_path / "t2m")
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "t2m.json").read_text())
    real = report["real"]
    assert 0 <= real["top1"][0] <= real["top2"][0] <= real["top3"][0] <= 1
    assert real["fid"][0] == pytest.approx(0.0, abs=1e-6)  # real motions against themselves
    assert set(real["retrieval"]) == {"R@1", "R@5", "R@10"} and "shuffled captions (real motions)" in report
    # the retrieval baseline: train motions of the same caption, as near their captions as the real ones
    retrieval = report["retrieval (nearest train caption)"]
    assert retrieval["fid"][0] > 0 and retrieval["top3"][0] == pytest.approx(real["top3"][0], abs=0.05)
    assert "| real |" in (tmp_path / "t2m.md").read_text()


def test_negative_loss_weights_are_refused(capsys):
    import train_evaluator
    import train_lifter

    with pytest.raises(SystemExit):
        train_lifter.main(["--data", "nowhere", "--out", "nowhere", "--velocity-weight", "-1"])
    assert "--velocity-weight must be >= 0, got -1.0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_evaluator.main(["--data", "nowhere", "--out", "nowhere", "--species-weight", "-0.5"])
    assert "--species-weight must be >= 0 (0 turns the species classifier off), got -0.5" in capsys.readouterr().err


def test_a_seed_fixes_the_initial_weights(people_folder, tmp_path):
    """Models are built after the trainer seeds torch: two runs with one seed end with the same weights."""
    import train_lifter

    def weights(name, seed):
        train_lifter.main(["--data", str(people_folder), "--out", str(tmp_path / name), "--backbone", "tiny",
                           "--window", "16", "--batch-size", "4", "--max-steps", "2", "--val-every", "0",
                           "--ckpt-every", "2", "--no-progress", "--threads", "1", "--seed", str(seed)])
        return Lifter.load(tmp_path / name / "model.safetensors").state_dict()

    a, b, c = weights("a", 0), weights("b", 0), weights("c", 1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_lifting_loss_pulls_a_collapsed_prediction_back_to_size():
    """A near-zero prediction of the right shape: the scale-normalised term's correction is bounded, so its
    gradient stays of the MPJPE's size and the total gradient grows the prediction; a good fit is scored as
    MotionBERT's unbounded term would score it."""
    from train_lifter import lifting_loss

    torch.manual_seed(0)
    y = torch.randn(2, 8, 17, 3)
    mask = torch.ones(2, 8, dtype=torch.bool)
    pred = (0.01 * (y + 0.5 * torch.randn_like(y))).requires_grad_()
    loss, logs = lifting_loss(pred, y, mask, velocity_weight=0.0)
    g_all, = torch.autograd.grad(loss, pred)
    g_3d, = torch.autograd.grad((pred - y).norm(dim=-1).mean(), pred)
    assert g_all.norm() <= 2.5 * g_3d.norm()
    assert (g_all * pred).sum() < 0  # a gradient step makes the prediction larger
    close = y + 0.05 * torch.randn_like(y)
    _, logs = lifting_loss(close, y, mask, velocity_weight=0.0)
    s = (close * y).sum((-1, -2), keepdim=True) / (close * close).sum((-1, -2), keepdim=True)
    assert logs["n_mpjpe"] == pytest.approx((s * close - y).norm(dim=-1).mean().item(), rel=1e-5)
