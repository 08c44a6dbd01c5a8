"""The zoo data set: determinism, physical plausibility, coverage of every split, caption variety, label truth."""
import json
from pathlib import Path

import numpy as np
import pytest

from utils.dataset import MotionFolder, read_texts
from utils.features import facing_angle
from utils.skeleton import ANIMO30, HUMANML22
from utils.zoo import build_zoo
from utils.zoo.__main__ import main as zoo_main
from utils.zoo.actions import ANIMAL_ACTIONS, HUMAN_ACTIONS, Step
from utils.zoo.bodies import GENDERS, SPECIES
from utils.zoo.captions import ANIMAL_NOUNS, GENERIC_ANIMAL
from utils.zoo.motion import make_clip
from utils.zoo.preview import contact_sheet, video

SPECS = {"animals": ANIMO30, "people": HUMANML22}


@pytest.fixture(scope="module")
def zoo(small_zoo):
    return small_zoo


def _clips(root: Path, group: str):
    """(id, canonical joints (T, J, 3), contacts (T-1, F), labels) of every clip of a group."""
    spec = SPECS[group]
    labels = MotionFolder(root / group).labels()
    for cid, lab in labels.items():
        joints = np.load(root / group / "new_joints" / f"{cid}.npy").astype(np.float64)
        feats = np.load(root / group / "new_joint_vecs" / f"{cid}.npy")
        yield cid, joints, feats[:, spec.slices.contacts], lab


def _words(text: str) -> list[str]:
    return "".join(c if c.isalnum() or c in "'-" else " " for c in text.lower()).split()


# ---- determinism ----------------------------------------------------------------------------------------------
def test_same_seed_gives_identical_files_whatever_the_workers(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    build_zoo(a, seed=3, workers=1, animals=30, people=16, log=lambda *x: None)
    build_zoo(b, seed=3, workers=2, animals=30, people=16, log=lambda *x: None)
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 3 * (30 + 16)
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    c = tmp_path / "c"
    build_zoo(c, seed=4, workers=2, animals=30, people=16, log=lambda *x: None)
    assert (a / "animals/new_joints/A000000.npy").read_bytes() != (c / "animals/new_joints/A000000.npy").read_bytes()


# ---- format ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["animals", "people"])
def test_folder_format_loads_and_clip_lengths(zoo, group):
    folder = MotionFolder(zoo / group, strict=True, min_length=2)
    assert folder.spec is SPECS[group]
    mean, std = folder.mean_std()
    assert mean.shape == (SPECS[group].feature_dim,) and (std > 0).all()
    items = folder.load_split("train")
    assert all(len(it.features) <= 195 for it in items)
    for cid, joints, _, lab in _clips(zoo, group):
        assert 40 <= len(joints) <= 196, cid
        assert lab["frames"] == len(joints)
        assert set(lab) >= {"species", "gender", "actions", "speed", "direction", "turn_angle", "repetitions",
                            "body_scale"}


# ---- physics --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["animals", "people"])
def test_bone_lengths_are_constant(zoo, group):
    parents = list(SPECS[group].parents[1:])
    worst = 0.0
    for _, joints, _, _ in _clips(zoo, group):
        bones = np.linalg.norm(joints[:, 1:] - joints[:, parents], axis=-1)  # (T, J-1)
        worst = max(worst, float((bones.max(0) - bones.min(0)).max()))
    assert worst < 1e-3


@pytest.mark.parametrize("group", ["animals", "people"])
def test_stance_feet_stay_planted(zoo, group):
    feet = list(SPECS[group].foot_joints)
    steps, contact = [], []
    for _, joints, con, _ in _clips(zoo, group):
        pos = joints[:, feet]  # (T, F, 3)
        steps.append(np.linalg.norm(pos[1:, :, [0, 2]] - pos[:-1, :, [0, 2]], axis=-1).ravel())
        contact.append(con.ravel() > 0.5)
    steps, contact = np.concatenate(steps), np.concatenate(contact)
    assert contact.mean() > 0.3  # feet are on the ground a good share of the time
    assert (steps[contact] < 0.01).mean() >= 0.95


@pytest.mark.parametrize("group", ["animals", "people"])
def test_feet_on_the_floor_and_nothing_below_it(zoo, group):
    feet = SPECS[group].foot_joints
    for cid, joints, con, _ in _clips(zoo, group):
        # the floor is where the feet stand in contact; canonical joints put it at height 0
        floor = min(np.median(joints[:-1, j, 1][con[:, k] > 0.5]) for k, j in enumerate(feet) if con[:, k].any())
        assert abs(floor) < 0.01, cid
        assert joints[..., 1].min() > floor - 0.01, cid


def test_gait_footfall_patterns():
    """Trot moves diagonal pairs together, a walk is four-beat, a rabbit's hop lands both hind feet together,
    people alternate their feet."""
    spec = ANIMO30

    def contacts(group, species, action, spec):
        from utils.features import joints_to_features
        clip = make_clip(group, action, "male", 5, species, steps=[Step(action, "normally", "forward")])
        feats, _ = joints_to_features(clip.joints, spec)
        return feats[20:, spec.slices.contacts]  # skip the start from standing

    lf, rf, lh, rh = contacts("animals", "dog", "trot", spec).T
    assert np.corrcoef(lf, rh)[0, 1] > 0.5 and np.corrcoef(rf, lh)[0, 1] > 0.5
    assert np.corrcoef(lf, rf)[0, 1] < 0
    walk = contacts("animals", "horse", "walk", spec)
    assert walk.sum(1).mean() > 2.2  # four-beat walk: mostly three feet down
    assert np.corrcoef(walk[:, 0], walk[:, 3])[0, 1] < 0.5
    lf, rf, lh, rh = contacts("animals", "rabbit", "trot", spec).T
    assert np.corrcoef(lh, rh)[0, 1] > 0.7
    people = contacts("people", "human", "walk", HUMANML22)
    assert np.corrcoef(people[:, 0], people[:, 2])[0, 1] < 0  # left and right ankles alternate


# ---- coverage -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["animals", "people"])
def test_every_species_gender_and_action_in_every_split(zoo, group):
    folder = MotionFolder(zoo / group)
    labels = folder.labels()
    species = set(SPECIES) if group == "animals" else {"human"}
    actions = set(ANIMAL_ACTIONS if group == "animals" else HUMAN_ACTIONS)
    ids = {s: folder.split_ids(s) for s in ("train", "val", "test")}
    for split, split_ids in ids.items():
        assert {labels[i]["species"] for i in split_ids} == species, split
        assert {labels[i]["gender"] for i in split_ids} == set(GENDERS), split
        assert {a for i in split_ids for a in labels[i]["actions"]} == actions, split
    all_ids = [i for v in ids.values() for i in v]
    assert len(all_ids) == len(set(all_ids)) == len(labels)  # held out: no clip in two splits
    n = len(all_ids)
    assert 0.7 * n < len(ids["train"]) < 0.85 * n and len(ids["val"]) >= 0.04 * n and len(ids["test"]) >= 0.12 * n
    train_steps = {json.dumps(labels[i]["steps"]) + labels[i]["species"] + str(labels[i]["body_scale"])
                   for i in ids["train"]}
    held = [i for i in ids["test"] if json.dumps(labels[i]["steps"]) + labels[i]["species"]
            + str(labels[i]["body_scale"]) in train_steps]
    assert not held  # test clips are not copies of training clips


# ---- captions -------------------------------------------------------------------------------------------------
def test_captions_vary_and_vocabulary(zoo):
    vocab = set()
    for group in ("animals", "people"):
        texts = sorted((zoo / group / "texts").glob("*.txt"))
        distinct = 0
        for p in texts:
            caps, _, _ = read_texts(p)
            assert len({c.text for c in caps}) >= 3, p
            distinct += len({c.text for c in caps})
            for c in caps:
                vocab.update(_words(c.text))
        assert distinct / len(texts) >= 3
    assert len(vocab) >= 300


def test_species_and_gender_named_sometimes_not_always(zoo):
    labels = MotionFolder(zoo / "animals").labels()
    named, total = 0, 0
    for cid, lab in labels.items():
        nouns = {w for g in ANIMAL_NOUNS[lab["species"]].values() for n in g for w in _words(n)}
        nouns -= {w for g in GENERIC_ANIMAL.values() for n in g for w in _words(n)} | {"big", "wild", "little"}
        for c in read_texts(zoo / "animals" / "texts" / f"{cid}.txt")[0]:
            total += 1
            named += bool(nouns & set(_words(c.text)))
    assert 0.4 < named / total < 0.9


# ---- labels agree with the motion -----------------------------------------------------------------------------
@pytest.mark.parametrize("group", ["animals", "people"])
def test_forward_backward_and_turn_labels_match_the_motion(zoo, group):
    spec = SPECS[group]
    checked = {"forward": 0, "backward": 0, "turn": 0}
    for cid, joints, _, lab in _clips(zoo, group):
        root = joints[:, 0]  # canonical: first frame at the origin facing +Z
        if lab["actions"] == ["walk"] and lab["direction"] == "forward":
            assert root[-1, 2] > 0.5 * spec.leg_length(joints) and root[-1, 2] > 3 * abs(root[-1, 0]), cid
            checked["forward"] += 1
        if lab["actions"] == ["walk_backward"]:
            assert root[-1, 2] < -0.3 * spec.leg_length(joints) and -root[-1, 2] > 3 * abs(root[-1, 0]), cid
            checked["backward"] += 1
        if lab["actions"] == ["turn"]:
            heading = np.unwrap(facing_angle(joints, spec))  # + is a left turn
            turned = np.degrees(heading[-1] - heading[0])
            assert np.sign(turned) == np.sign(lab["turn_angle"]), cid
            assert abs(turned - lab["turn_angle"]) < 20, (cid, turned, lab["turn_angle"])
            checked["turn"] += 1
    assert min(checked.values()) >= 1, checked


def _mean_speed(joints: np.ndarray) -> float:
    """Path length of the root on the ground per frame."""
    return float(np.linalg.norm(np.diff(joints[:, 0, [0, 2]], axis=0), axis=-1).mean())


def test_quickly_is_faster_than_slowly():
    for species, action in [(s, a) for s in SPECIES for a in ("walk", "trot", "run") if a in SPECIES[s].actions]:
        speed = {}
        for adverb in ("slowly", "quickly"):
            speed[adverb] = np.mean([_mean_speed(make_clip("animals", action, "female", seed, species,
                                                           steps=[Step(action, adverb, "forward")]).joints)
                                     for seed in range(2)])
        assert speed["quickly"] > 1.15 * speed["slowly"], (species, action, speed)
    for action, direction in (("walk", "forward"), ("jog", "forward"), ("run", "forward"), ("side_step", "left")):
        speed = {a: _mean_speed(make_clip("people", action, "male", 1, steps=[Step(action, a, direction)]).joints)
                 for a in ("slowly", "quickly")}
        assert speed["quickly"] > 1.15 * speed["slowly"], (action, speed)


def test_dataset_speed_labels_order_the_speeds(zoo):
    labels = MotionFolder(zoo / "animals").labels()
    speeds = {"slowly": [], "quickly": []}
    for cid, joints, _, lab in _clips(zoo, "animals"):
        if len(lab["actions"]) == 1 and lab["actions"][0] in ("walk", "trot", "run") and lab["speed"] in speeds:
            v = _mean_speed(joints) * ANIMO30.fps
            speeds[lab["speed"]].append(v ** 2 / (9.81 * labels[cid]["height"]))  # Froude number: size-free
    assert len(speeds["slowly"]) >= 3 and len(speeds["quickly"]) >= 3
    assert np.median(speeds["quickly"]) > np.median(speeds["slowly"])


# ---- tools ----------------------------------------------------------------------------------------------------
def test_stats_and_preview_commands(zoo, tmp_path, capsys):
    assert zoo_main(["stats", "--root", str(zoo)]) == 0
    out = capsys.readouterr().out
    assert "vocabulary over all captions" in out and "foot skating" in out and "penetration" in out
    sheet = contact_sheet(zoo, tmp_path / "sheet.png", ["A000000", "H000001"], cols=2)
    assert sheet.stat().st_size > 10_000
    mp4 = video(zoo, "H000001", tmp_path / "h.mp4", size=160, every=4)
    assert mp4.stat().st_size > 1_000


def test_bad_arguments_raise_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown species"):
        make_clip("animals", "walk", "male", 0, "unicorn")
    with pytest.raises(ValueError, match="cannot"):
        make_clip("animals", "pounce", "male", 0, "elephant")
    with pytest.raises(ValueError, match="max_frames"):
        build_zoo(tmp_path, max_frames=10)
    with pytest.raises(ValueError, match="unknown gender"):
        make_clip("people", "walk", "robot", 0)
