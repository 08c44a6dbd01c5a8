"""Lift a 2D keypoint sequence from any video pose detector to 3D joints.

    python lift.py --input video_keypoints.json --image-size 1920 1080 --out lifted
    python lift.py --checkpoint runs/lift_animals/model.safetensors --input dog_keypoints.npy --out dog

--checkpoint defaults to the bundled lifter whose input has the keypoints' joint count (17: people, 30: animals).

--input: a COCO-17 JSON as detectors write it (see utils/keypoints.py) or a (T, J, 2|3) .npy array.
--layout coco17 converts COCO keypoints to the lifter's h36m17 input. Any length works: windows overlap and are
blended at the seams, and each window is lifted as seen and mirrored, the two averaged (MotionBERT's flip test;
--no-flip for half the time). Writes OUT_joints.npy (T, J, 3, metres, Y up), OUT.mp4 unless --no-video, and for a human
lifter OUT_features.npy (HumanML3D features the tokenizer can encode).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from models import bundled
from models.checkpoint import CheckpointError
from models.lifter import Lifter
from utils.features import joints_to_features
from utils.io import atomic_save_npy
from utils.keypoints import KeypointError, clean_keypoints, normalize_keypoints, read_keypoints
from utils.lifting import lift_sequence
from utils.skeleton import coco17_to_h36m17


def to_metres(pred: np.ndarray, spec) -> np.ndarray:
    """Lifted joints are in normalised image units: scale them so the median bone lengths match the skeleton's
    rest pose, and turn the camera frame (y up, z away) into a Y-up world standing on the floor."""
    bones = np.linalg.norm(pred[:, 1:] - pred[:, list(spec.parents[1:])], axis=-1)
    scale = spec.bone_lengths[1:].sum() / max(float(np.median(bones.sum(1))), 1e-8)
    joints = pred * scale * np.array([1.0, 1.0, -1.0])  # face the camera: camera z away -> world -z
    joints[..., 1] -= joints[..., 1].min()
    return joints


def lift_keypoints(model: Lifter, keypoints: np.ndarray, image_size=None, overlap: int | None = None,
                   flip: bool = True) -> np.ndarray:
    """(T, J_in, 2|3) pixel keypoints -> (T, J_out, 3) metres; flip: average with the mirrored view (Lifter.predict)."""
    kp = clean_keypoints(keypoints, model.input_spec.num_joints)
    x, _ = normalize_keypoints(kp, image_size)
    device = next(model.parameters()).device
    pred = lift_sequence(model, torch.from_numpy(x).float().to(device), model.config.window, overlap, flip)
    return to_metres(pred.float().cpu().numpy(), model.output_spec)


def choose_lifter(models: list[Lifter], num_joints: int, what: str = "lifter", fix: str = "") -> Lifter:
    """The first of `models` that reads `num_joints` keypoints per frame (COCO-17 counts as h36m17's 17); else a
    ValueError saying what they read, then `fix`."""
    for model in models:
        if model.input_spec.num_joints == num_joints:
            return model
    known = ", ".join(f"{m.input_spec.num_joints} ({m.input_spec.name})" for m in models)
    raise ValueError(f"no {what} reads {num_joints} keypoints per frame (they read {known}); {fix}")


def bundled_lifter(num_joints: int) -> Lifter:
    models = [Lifter.load(bundled.bundled(d, "lifter")) for d in bundled.DATASETS]
    return choose_lifter(models, num_joints, "bundled lifter", "give --checkpoint")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", help="lifter .safetensors (default: the bundled one for the keypoints' joint count)")
    p.add_argument("--input", required=True)
    p.add_argument("--out", required=True, help="output prefix")
    p.add_argument("--layout", choices=["native", "coco17"], default="native",
                   help="coco17: the input is COCO-17 keypoints, converted to the lifter's h36m17 layout")
    p.add_argument("--image-size", type=float, nargs=2, metavar=("W", "H"),
                   help="the image's size, checked and used for the first normalisation (else the sequence's keypoint "
                        "box); either way every window is then re-normalised by the body, so the 3D result is the same")
    p.add_argument("--no-video", action="store_true")
    p.add_argument("--no-flip", action="store_true",
                   help="lift the keypoints as given only, not also mirrored (half the time, slightly less accurate)")
    args = p.parse_args(argv)
    try:
        kp = read_keypoints(args.input)
        model = Lifter.load(args.checkpoint) if args.checkpoint else bundled_lifter(kp.shape[1])
        if args.layout == "coco17" or (args.input.endswith(".json") and kp.shape[1] == 17 and
                                       model.input_spec.name == "h36m17"):
            kp = coco17_to_h36m17(kp)
        with torch.no_grad():
            joints = lift_keypoints(model, kp, tuple(args.image_size) if args.image_size else None,
                                    flip=not args.no_flip)
    except (KeypointError, CheckpointError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_save_npy(out.with_name(out.name + "_joints.npy"), joints.astype(np.float32))
    written = [out.with_name(out.name + "_joints.npy")]
    spec = model.output_spec
    if spec.face_joints is not None and len(joints) >= 2:
        feats, _ = joints_to_features(joints, spec)
        atomic_save_npy(out.with_name(out.name + "_features.npy"), feats)
        written.append(out.with_name(out.name + "_features.npy"))
    if not args.no_video:
        from utils.render import render_video

        written.append(render_video(joints, spec, out.with_suffix(".mp4"), title=f"lifted: {Path(args.input).name}"))
    print(json.dumps({"frames": len(joints), "skeleton": spec.name, "files": [str(w) for w in written]}, indent=1))


if __name__ == "__main__":
    main()
