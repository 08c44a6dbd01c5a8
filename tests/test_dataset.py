import logging
import pickle

import numpy as np
import pytest
import torch

from conftest import random_motion
from utils.dataset import (Caption, ClipRecord, DataError, MotionFolder, MotionItem, MotionWindowDataset,
                           PackedMotions, SeededSampler, TextMotionDataset, collate_motions, compute_mean_std,
                           parse_text_line, write_dataset)
from utils.features import joints_to_features
from utils.skeleton import ANIMO30, HUMANML22


def _clips(spec, n, T=80, species=("dog", "cat"), seed=0):
    return [ClipRecord(id=f"c{i:03d}", joints=random_motion(spec, T=T + 4 * i, seed=seed + i),
                       captions=[Caption(f"an animal moves number {i}"), Caption("it walks around")],
                       species=species[i % len(species)], gender=("male", "female", "juvenile")[i % 3],
                       labels={"actions": ["walk"]}) for i in range(n)]


@pytest.fixture(scope="module")
def animal_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("animals")
    clips = _clips(ANIMO30, 12)
    ids = [c.id for c in clips]
    write_dataset(root, clips, {"train": ids[:8], "val": ids[8:10], "test": ids[10:]}, ANIMO30)
    return root, clips


def test_written_folder_reads_back(animal_folder):
    root, clips = animal_folder
    folder = MotionFolder(root)
    assert folder.spec is ANIMO30  # from skeleton.json
    assert folder.available_splits() == ["train", "val", "test"]
    items = folder.load_split("train")
    assert [it.key for it in items] == [c.id for c in clips[:8]]
    for it, clip in zip(items, clips):
        feats, canon = joints_to_features(clip.joints, ANIMO30)
        assert np.array_equal(it.features, feats)
        assert np.array_equal(folder.load_joints(clip.id), canon)
        assert (it.species, it.gender) == (clip.species, clip.gender)
        assert [c.text for c in it.captions] == [c.text for c in clip.captions]
    assert folder.labels()["c000"]["actions"] == ["walk"]
    mean, std = folder.mean_std()
    ref_mean, ref_std = compute_mean_std([it.features for it in items], ANIMO30)
    assert np.allclose(mean, ref_mean) and np.allclose(std, ref_std)


def test_mean_std_is_humanml3ds_grouped_statistic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, ANIMO30.feature_dim)) * rng.uniform(0.1, 3, ANIMO30.feature_dim)
    mean, std = compute_mean_std([x[:200], x[200:]], ANIMO30)
    s = ANIMO30.slices
    assert np.allclose(mean, x.mean(0), atol=1e-5)
    assert np.allclose(std[s.ric], x[:, s.ric].std(0).mean(), rtol=1e-4)
    assert np.allclose(std[s.contacts], x[:, s.contacts].std(0).mean() / 5, rtol=1e-4)
    assert np.allclose(std[s.root_rot_vel], x[:, 0].std(), rtol=1e-4)


def _humanml3d_folder(root, spec=HUMANML22):
    """A folder in HumanML3D's own layout, written by hand: no skeleton.json, no metadata, sub-clip captions."""
    for sub in ("new_joints", "new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    for i in range(3):
        feats, canon = joints_to_features(random_motion(spec, T=121, seed=i), spec)
        np.save(root / "new_joint_vecs" / f"{i:06d}.npy", feats)
        np.save(root / "new_joints" / f"{i:06d}.npy", canon)
    (root / "texts" / "000000.txt").write_text(
        "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n"
        "someone strolls ahead.#someone/PRON stroll/VERB ahead/ADV#nan#nan\n"
        "the person raises a hand.#the/DET person/NOUN raise/VERB a/DET hand/NOUN#1.0#4.0\n"
        "then waves.#then/ADV wave/VERB#1.0#4.0\n")
    (root / "texts" / "000001.txt").write_text("a man jumps.#a/DET man/NOUN jump/VERB#0.0#0.0\n")
    (root / "texts" / "000002.txt").write_text(
        "human#female#a woman squats.#a/DET woman/NOUN squat/VERB#0.0#0.0\n")
    (root / "train.txt").write_text("000000\n000001\n000002\n")
    return root


def test_reads_a_humanml3d_folder_with_sub_clips_and_animo_lines(tmp_path):
    folder = MotionFolder(_humanml3d_folder(tmp_path), default_species="human")
    assert folder.spec is HUMANML22  # inferred from the 263-dim features
    items = {it.key: it for it in folder.load_split("train")}
    assert set(items) == {"000000", "000000@20-80", "000001", "000002"}
    whole, sub = items["000000"], items["000000@20-80"]
    assert len(whole.features) == 120 and len(whole.captions) == 2
    assert np.array_equal(sub.features, whole.features[20:80])
    assert [c.text for c in sub.captions] == ["the person raises a hand.", "then waves."]
    assert (items["000002"].species, items["000002"].gender) == ("human", "female")  # AniMo-style line
    assert (items["000001"].species, items["000001"].gender) == ("human", "unknown")  # defaults


def test_parse_text_line_forms():
    cap, sp, ge = parse_text_line("deer#juvenile#a fawn leaps.#a/DET fawn/NOUN leap/VERB#0#0", "x")
    assert (cap.text, sp, ge, cap.whole_clip) == ("a fawn leaps.", "deer", "juvenile", True)
    with pytest.raises(DataError, match=r"x: expected 'caption#tokens#from#to'.*got 3"):
        parse_text_line("a#b#c", "x")
    with pytest.raises(DataError, match="from/to must be seconds"):
        parse_text_line("cap#tok#one#two", "x")
    with pytest.raises(DataError, match="caption is empty"):
        parse_text_line(" #tok#0#0", "x")


@pytest.fixture()
def broken_folder(tmp_path):
    """Six good clips and one of each kind of bad clip."""
    root = tmp_path / "broken"
    clips = _clips(HUMANML22, 6)
    write_dataset(root, clips, {"train": [c.id for c in clips]}, HUMANML22)
    D = HUMANML22.feature_dim
    np.save(root / "new_joint_vecs" / "wide.npy", np.zeros((60, D + 4), np.float32))
    nan = np.zeros((60, D), np.float32)
    nan[7, 9] = np.nan
    np.save(root / "new_joint_vecs" / "nan.npy", nan)
    np.save(root / "new_joint_vecs" / "short.npy", np.zeros((12, D), np.float32))
    np.save(root / "new_joint_vecs" / "nocap.npy", np.zeros((60, D), np.float32))
    np.save(root / "new_joint_vecs" / "emptycap.npy", np.zeros((60, D), np.float32))
    for name in ("wide", "nan", "short", "missing"):
        (root / "texts" / f"{name}.txt").write_text("a caption#a/X#0#0\n")
    (root / "texts" / "emptycap.txt").write_text("\n")
    bad = ["wide", "nan", "short", "missing", "nocap", "emptycap"]
    (root / "train.txt").write_text("".join(f"{i}\n" for i in [c.id for c in clips] + bad))
    return root


@pytest.mark.parametrize("clip,message", [
    ("wide", r"new_joint_vecs/wide.npy: features have shape \(60, 267\), skeleton 'humanml22' needs \(T, 263\)"),
    ("nan", r"new_joint_vecs/nan.npy: contains NaN or Inf \(first at frame 7, dim 9\)"),
    ("short", r"short.npy: short has 12 frames, fewer than the minimum 40"),
    ("missing", r"new_joint_vecs/missing.npy: feature file is missing"),
    ("nocap", r"texts/nocap.txt: caption file is missing"),
    ("emptycap", r"texts/emptycap.txt: caption file is empty"),
])
def test_each_bad_clip_has_its_own_message(broken_folder, clip, message):
    (broken_folder / "train.txt").write_text(f"{clip}\n")
    with pytest.raises(DataError, match=message):
        MotionFolder(broken_folder, strict=True).load_split("train")


def test_bad_clips_are_skipped_and_counted_unless_strict(broken_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="zoomotion.data"):
        folder = MotionFolder(broken_folder)
        items = folder.load_split("train")
    assert len(items) == 6
    assert "skipped 6 clips" in caplog.text and "--strict" in caplog.text
    assert sum(folder.skipped.values()) == 6
    with pytest.raises(DataError, match="wide.npy"):
        MotionFolder(broken_folder, strict=True).load_split("train")


def test_folder_level_errors(tmp_path, animal_folder):
    root, _ = animal_folder
    with pytest.raises(DataError, match=r"unknown split 'tset'; this data set has \['train', 'val', 'test'\]"):
        MotionFolder(root).load_split("tset")
    with pytest.raises(DataError, match="does not exist"):
        MotionFolder(tmp_path / "nowhere")
    (tmp_path / "new_joint_vecs").mkdir()
    with pytest.raises(DataError, match="no feature files to infer the skeleton"):
        MotionFolder(tmp_path)
    with pytest.raises(DataError, match="Mean.npy: missing; compute it with `python -m utils.dataset stats"):
        MotionFolder(tmp_path, skeleton="humanml22").mean_std()


def _packed(root, split="train"):
    folder = MotionFolder(root)
    return PackedMotions(folder.load_split(split), *folder.mean_std())


def test_window_and_text_datasets(animal_folder):
    packed = _packed(animal_folder[0])
    windows = MotionWindowDataset(packed, window=64)
    w = windows[(3, 123)]
    assert w["motion"].shape == (64, 359) and w["species"] in ("dog", "cat")
    assert torch.equal(w["motion"], windows[(3, 123)]["motion"])  # a seed fixes the crop
    # windows are normalised slices of the clip
    mean, std = MotionFolder(animal_folder[0]).mean_std()
    full = (MotionFolder(animal_folder[0]).load_split("train")[3].features - mean) / std
    start = next(s for s in range(len(full) - 63) if np.allclose(full[s:s + 64], w["motion"].numpy(), atol=1e-5))
    assert start >= 0

    texts = TextMotionDataset(packed, max_length=60, unit_length=4)
    batch = collate_motions([texts[(i, 7 * i)] for i in range(6)])
    assert batch["motion"].shape[0] == 6 and batch["motion"].shape[2] == 359
    assert (batch["length"] % 4 == 0).all() and (batch["length"] <= 60).all()
    assert torch.equal(batch["mask"].sum(1), batch["length"])
    for k in range(6):  # padding is zero
        assert batch["motion"][k, batch["length"][k]:].abs().sum() == 0
    assert len(batch["caption"]) == 6 and all(isinstance(c, str) for c in batch["caption"])


def test_seeded_sampler_is_reproducible_across_workers_and_resumes(animal_folder):
    packed = _packed(animal_folder[0])
    ds = TextMotionDataset(packed, max_length=60)

    def batches(num_workers, sampler):
        loader = torch.utils.data.DataLoader(ds, batch_size=3, sampler=sampler, collate_fn=collate_motions,
                                             num_workers=num_workers)
        return [(b["key"], b["length"].tolist(), b["caption"]) for b in loader]

    a = batches(0, SeededSampler(len(ds), seed=5))
    b = batches(2, SeededSampler(len(ds), seed=5))
    assert a == b
    assert a != batches(0, SeededSampler(len(ds), seed=6))
    s = SeededSampler(len(ds), seed=5)
    it = iter(s)
    consumed = [next(it) for _ in range(3)]
    state = s.state_dict(consumed=3)
    resumed = SeededSampler(len(ds), seed=0)
    resumed.load_state_dict(state)
    assert consumed + list(resumed) == list(SeededSampler(len(ds), seed=5))
    # epochs differ; two replicas split an epoch between them
    s2 = SeededSampler(len(ds), seed=5)
    assert list(s2) != list(s2)
    r0, r1 = SeededSampler(8, seed=1, num_replicas=2, rank=0), SeededSampler(8, seed=1, num_replicas=2, rank=1)
    assert sorted(i for i, _ in list(r0) + list(r1)) == list(range(8))


def test_packed_motions_pickle_small_when_cached(animal_folder, tmp_path):
    folder = MotionFolder(animal_folder[0])
    packed = PackedMotions(folder.load_split("train"), *folder.mean_std(), cache_dir=tmp_path)
    blob = pickle.dumps(packed)
    assert len(blob) < 20_000 < packed.data.nbytes
    back = pickle.loads(blob)
    assert np.array_equal(back.motion(2), packed.motion(2))


def test_build_features_from_raw_joints_then_check(tmp_path, capsys):
    from utils.dataset import main

    (tmp_path / "joints").mkdir()
    (tmp_path / "texts").mkdir()
    for i in range(4):
        np.save(tmp_path / "joints" / f"m{i}.npy", random_motion(HUMANML22, T=70, seed=20 + i))
        (tmp_path / "texts" / f"m{i}.txt").write_text(f"a person does thing {i}#x/X#0#0\n")
    np.save(tmp_path / "joints" / "bad.npy", np.zeros((70, 17, 3)))
    (tmp_path / "train.txt").write_text("m0\nm1\nm2\n")
    (tmp_path / "test.txt").write_text("m3\n")
    main(["build-features", str(tmp_path), "--skeleton", "humanml22"])
    out = capsys.readouterr().out
    assert '"converted": 4' in out and "bad" in out and "3 clips of train" in out
    feats = np.load(tmp_path / "new_joint_vecs" / "m1.npy")
    assert feats.shape == (69, 263)
    main(["check", str(tmp_path)])
    assert '"items": 3' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="error: .*bad.npy: joints have shape \\(70, 17, 3\\)"):
        main(["build-features", str(tmp_path), "--skeleton", "humanml22", "--strict"])


def test_mirrored_items_move_the_other_way_under_swapped_captions():
    from dataclasses import replace

    from utils.mirror import MIRROR_SUFFIX, mirror_features, mirrored_items, swap_sides

    assert swap_sides("The dog turns Left, then circles clockwise to its right-hand side; upright, leftward") == \
        "The dog turns Right, then circles counterclockwise to its left-hand side; upright, rightward"
    spec = HUMANML22
    x = joints_to_features(random_motion(spec, T=61, seed=3, turn_rate=0.03), spec)[0]  # turning one way
    m = mirror_features(x, spec)
    yaw = spec.slices.root_rot_vel.start
    assert m.shape == (len(x) - 1, x.shape[1])  # one frame shorter
    assert np.allclose(m[:, yaw], -x[:-1, yaw], atol=1e-5) and abs(x[:, yaw].sum()) > 0.5  # the other way round
    # heights are the body's own; mirroring twice gives the motion back
    assert np.allclose(m[:, spec.slices.root_height], x[:-1, spec.slices.root_height], atol=1e-5)
    assert np.allclose(mirror_features(m, spec), x[:-2], atol=1e-4)
    item = MotionItem("c1@0-2", "c1", x, [Caption("a man turns left", ("a/DET",))], "human", "male")
    (mirrored,) = mirrored_items([item, replace(item, features=x[:2])], spec)  # a two-frame clip is left out
    assert mirrored.key == "c1@0-2" + MIRROR_SUFFIX and mirrored.clip_id == "c1" + MIRROR_SUFFIX
    assert [c.text for c in mirrored.captions] == ["a man turns right"] and np.array_equal(mirrored.features, m)
    with pytest.raises(ValueError, match="cannot be mirrored; train without --mirror"):
        mirror_features(x, replace(spec, mirror_pairs=()))
