"""Turn motion files into tokenizer codes and back.

    python tokenize_motion.py encode --input clip.npy --species dog --gender male --out clip_codes.npy
    python tokenize_motion.py decode --input clip_codes.npy --out back.npy
    python tokenize_motion.py encode --checkpoint runs/vq/model.safetensors --input clip.npy ...

--checkpoint defaults to the bundled tokenizer of the motion's skeleton (encode: read from the input's shape;
decode: from CODES.json).

`--input` for encode is features (T, D) or joints (T, J, 3). Encode writes the codes (T/4, Q) and, beside them,
CODES.json with the true length, the condition and the clip's body (bone lengths and rest skeleton), which decode
reads (its flags override it). Decode writes features to --out and joints to --joints-out if given. Lengths
that are not a multiple of 4 are padded by repeating the last frame and cropped back on decode.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from models import bundled
from models.checkpoint import CheckpointError
from models.vq.codec import MotionCodec
from utils.features import recover_joints
from utils.io import atomic_save_npy, atomic_write_text, load_npy
from utils.skeleton import skeleton_for_feature_dim, skeleton_for_joint_count


def _bundled_tokenizer(motion: np.ndarray) -> Path:
    """The bundled tokenizer for a features (T, D) or joints (T, J, 3) array, by its width or joint count."""
    if motion.ndim not in (2, 3):
        raise ValueError(f"--input of shape {motion.shape} is neither features (T, D) nor joints (T, J, 3)")
    lookup = skeleton_for_feature_dim if motion.ndim == 2 else skeleton_for_joint_count
    try:
        spec = lookup(motion.shape[1])
    except ValueError as e:
        raise ValueError(f"--input of shape {motion.shape}: {e}; give --checkpoint") from None
    return bundled.for_skeleton(spec.name, "tokenizer")


def _read_side(side: Path) -> dict:
    """The codes' side file (written by encode), or {} when there is none."""
    if not side.is_file():
        return {}
    try:
        meta = json.loads(side.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{side} is not valid JSON ({e}); encode the motion again to rewrite it") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{side} must hold a JSON object (frames, species, gender, body, offsets)")
    return meta


def _checked_body(meta: dict, side: Path, spec) -> dict:
    """The side file's body (J-1,) and rest skeleton (J, 3) as arrays, each checked against the skeleton."""
    out = {}
    for field, shape in (("body", (spec.num_joints - 1,)), ("offsets", (spec.num_joints, 3))):
        if field not in meta:
            continue
        try:
            value = np.asarray(meta[field], dtype=np.float32)
        except (TypeError, ValueError):
            value = None
        if value is None or value.shape != shape or not np.isfinite(value).all():
            raise ValueError(f"{side}: field {field!r} must hold {' x '.join(map(str, shape))} finite numbers for "
                             f"the {spec.name} skeleton; encode the motion again, or delete the field (decode "
                             f"then uses the species' typical body)")
        out[field] = value
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("encode", "decode"):
        p = sub.add_parser(name)
        p.add_argument("--checkpoint", help="tokenizer .safetensors (default: the bundled one for the skeleton)")
        p.add_argument("--input", required=True)
        p.add_argument("--out", required=True)
        p.add_argument("--species", help="e.g. dog, horse, human (decode: default from the codes' .json)")
        p.add_argument("--gender", help="male, female or juvenile (decode: default from the codes' .json)")
        p.add_argument("--device", help="cpu or cuda (default: cuda if available)")
    sub.choices["decode"].add_argument("--frames", type=int, help="crop to this many frames")
    sub.choices["decode"].add_argument("--layers", type=int, help="use only the first k code layers")
    sub.choices["decode"].add_argument("--joints-out", help="also write (T, J, 3) joints here")
    args = parser.parse_args(argv)
    try:
        if args.command == "encode":
            if not args.species or not args.gender:
                raise ValueError("encode needs --species and --gender (the tokenizer is conditioned on them)")
            motion = load_npy(args.input)
            ckpt = args.checkpoint or _bundled_tokenizer(motion)
            codec = MotionCodec.from_checkpoint(ckpt, args.device)
            enc = codec.encode(motion, args.species, args.gender)
            atomic_save_npy(args.out, enc.codes)
            meta = {"frames": enc.frames, "species": enc.species, "gender": enc.gender,
                    "checkpoint": str(ckpt), "skeleton": codec.spec.name}
            if enc.body is not None:  # the clip's proportions: log bone lengths over the skeleton's rest lengths
                meta["body"] = enc.body.astype(np.float64).tolist()  # float32 values, exact in JSON
            # the clip's rest skeleton, to which decode refits the joints (bones keep their lengths)
            meta["offsets"] = enc.offsets.astype(np.float64).tolist()
            atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(meta, indent=1))
            print(f"{args.input}: {enc.frames} frames -> {enc.codes.shape[0]} tokens x {enc.codes.shape[1]} layers "
                  f"-> {args.out}")
        else:
            side = Path(args.input).with_suffix(".json")
            meta = _read_side(side)
            if not args.checkpoint and "skeleton" not in meta:
                raise ValueError(f"give --checkpoint (no {side} beside the codes to tell the skeleton)")
            ckpt = args.checkpoint or bundled.for_skeleton(meta["skeleton"], "tokenizer")
            codec = MotionCodec.from_checkpoint(ckpt, args.device)
            meta.update(_checked_body(meta, side, codec.spec))
            species, gender = args.species or meta.get("species"), args.gender or meta.get("gender")
            if not species or not gender:
                raise ValueError(f"give --species and --gender (no {side} beside the codes to take them from)")
            body = meta.get("body") if codec.model.config.body_condition else None
            feats = codec.decode(load_npy(args.input), species, gender, args.frames or meta.get("frames"),
                                 args.layers, body=body, offsets=meta.get("offsets"))
            atomic_save_npy(args.out, feats)
            if args.joints_out:
                atomic_save_npy(args.joints_out, recover_joints(feats, codec.spec))
            print(f"{args.input} -> {feats.shape[0]} frames of {codec.spec.name} features -> {args.out}")
    except (ValueError, CheckpointError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
