"""Convert motions to BVH files (for Blender, Maya, MotionBuilder ...) and back.

    python motion_to_bvh.py outputs/gen/00_a_dog_trots/joints.npy --skeleton animo30 --out trot.bvh
    python motion_to_bvh.py outputs/gen/00_a_man_jogs/features.npy --out jog.bvh   # skeleton from the width (263, 359)
    python motion_to_bvh.py joints.npy --skeleton my_skeleton.json --fps 30 --out motion.bvh
    python motion_to_bvh.py --to-joints motion.bvh --skeleton humanml22 --out joints.npy

The input .npy holds joints (T, J, 3) in metres (Y up) or unnormalised features (T, D). Without --skeleton the
skeleton is the built-in one with that many joints or that feature width. The BVH is in centimetres (--scale 100)
with ZXY Euler channels that stay continuous however often the body turns. --to-joints reads any BVH back to joints
(T, J, 3) in metres, in the skeleton's joint order when --skeleton is given, else in the file's.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from utils.bvh import bvh_to_joints, write_bvh
from utils.features import recover_joints
from utils.io import atomic_save_npy, load_npy
from utils.skeleton import SkeletonSpec, get_skeleton, skeleton_for_feature_dim, skeleton_for_joint_count


def load_motion(path: str | Path, skeleton: str | None) -> tuple[np.ndarray, SkeletonSpec]:
    """A joints (T, J, 3) or features (T, D) .npy -> ((T, J, 3) joints in metres, its skeleton)."""
    path = Path(path)
    x = load_npy(path)
    spec = get_skeleton(skeleton) if skeleton else None
    if x.ndim == 3 and x.shape[-1] == 3:
        if spec is None:
            try:
                spec = skeleton_for_joint_count(x.shape[1])
            except ValueError as e:
                raise ValueError(f"{path}: {e}; give --skeleton") from None
        if x.shape[1] != spec.num_joints:
            raise ValueError(f"{path} holds {x.shape[1]} joints but skeleton {spec.name!r} has {spec.num_joints}")
    elif x.ndim == 2:
        if spec is None:
            try:
                spec = skeleton_for_feature_dim(x.shape[1])
            except ValueError as e:
                raise ValueError(f"{path}: {e}") from None
        if x.shape[1] != spec.feature_dim:
            raise ValueError(f"{path} holds {x.shape[1]}-dim features but skeleton {spec.name!r} needs "
                             f"{spec.feature_dim}")
        x = recover_joints(x, spec)
    else:
        raise ValueError(f"{path} has shape {x.shape}; expected joints (T, J, 3) or features (T, D)")
    if len(x) == 0 or not np.isfinite(x).all():
        raise ValueError(f"{path} holds no frames or NaN / inf values")
    return x, spec


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", nargs="?", help="joints (T, J, 3) or features (T, D) .npy to write as BVH")
    p.add_argument("--to-joints", metavar="BVH", help="instead read this BVH file and write its joints as .npy")
    p.add_argument("--skeleton", help="built-in skeleton name or .json spec (default: from the input's shape)")
    p.add_argument("--out", help="output file (default: the input with .bvh or .npy)")
    p.add_argument("--fps", type=float, help="frame rate of a .npy input (default: the skeleton's)")
    p.add_argument("--scale", type=float, default=100.0, help="BVH units per metre (100: centimetres)")
    args = p.parse_args(argv)
    try:
        if (args.input is None) == (args.to_joints is None):
            raise ValueError("give either a .npy to write as BVH or --to-joints FILE.bvh")
        if not args.scale > 0 or (args.fps is not None and not args.fps > 0):
            raise ValueError(f"--scale and --fps must be positive, got {args.scale} and {args.fps}")
        if args.to_joints:
            if args.fps is not None:
                raise ValueError("--fps applies to .npy input only; a BVH file carries its own frame time")
            src = Path(args.to_joints)
            if not src.is_file():
                raise ValueError(f"{src} does not exist")
            joints = bvh_to_joints(src, args.skeleton, scale=args.scale)
            out = Path(args.out) if args.out else src.with_suffix(".npy")
            atomic_save_npy(out, joints.astype(np.float32))
        else:
            joints, spec = load_motion(args.input, args.skeleton)
            out = write_bvh(Path(args.out) if args.out else Path(args.input).with_suffix(".bvh"), joints, spec,
                            fps=args.fps, scale=args.scale)
        print(f"wrote {out}: {len(joints)} frames, {joints.shape[1]} joints")
    except (ValueError, OSError) as e:
        raise SystemExit(f"error: {e}") from None


if __name__ == "__main__":
    main()
