"""Round-trip errors of the motion representation on random plausible motions (float32 features).

    python bench/features_roundtrip.py [--clips 200]

joints -> features -> joints against the canonicalised joints, and IK -> FK with the clip's own bones.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import random_motion  # noqa: E402
from utils.features import joints_to_features, recover_joints  # noqa: E402
from utils.kinematics import forward_kinematics, inverse_kinematics  # noqa: E402
from utils.skeleton import ANIMO30, HUMANML22  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200)
    args = parser.parse_args()
    print("| skeleton | dims | clips | features round trip max (m) | IK->FK max (m) | ms per 120 frames |")
    print("|---|---|---|---|---|---|")
    for spec in (ANIMO30, HUMANML22):
        rt, ik, secs, frames = 0.0, 0.0, 0.0, 0
        for seed in range(args.clips):
            T = 40 + seed % 157
            joints = random_motion(spec, T=T, seed=seed, turn_rate=0.3 if seed % 10 == 0 else None)
            t0 = time.perf_counter()
            feats, canon = joints_to_features(joints, spec)
            secs += time.perf_counter() - t0
            frames += T
            rt = max(rt, float(np.abs(recover_joints(feats, spec) - canon[:-1]).max()))
            local, offsets = inverse_kinematics(spec, joints)
            ik = max(ik, float(np.abs(forward_kinematics(spec, local, joints[:, 0], offsets) - joints).max()))
        print(f"| {spec.name} | {spec.feature_dim} | {args.clips} | {rt:.2e} | {ik:.2e} | "
              f"{1000 * secs / frames * 120:.1f} |")


if __name__ == "__main__":
    main()
