"""Shared test helpers: random but plausible skeleton motions on any spec, and the --small zoo."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from utils.kinematics import forward_kinematics
from utils.skeleton import SkeletonSpec
from utils.zoo import build_zoo


def random_body(spec: SkeletonSpec, rng: np.random.Generator) -> np.ndarray:
    """(J, 3) offsets of a body with its own proportions: every bone scaled by its own factor."""
    return spec.offsets * rng.uniform(0.75, 1.3, size=(spec.num_joints, 1))


def random_motion(spec: SkeletonSpec, T: int = 120, seed: int = 0, turn_rate: float | None = None,
                  offsets: np.ndarray | None = None) -> np.ndarray:
    """(T, J, 3) joints: smooth random joint rotations, a turning root that walks forward, a random body.

    turn_rate (radians per frame) defaults to a random value; a large one makes the heading wrap past 180 degrees.
    """
    rng = np.random.default_rng(seed)
    J = spec.num_joints
    offsets = random_body(spec, rng) if offsets is None else offsets
    t = np.arange(T) / spec.fps
    amp = rng.uniform(-0.6, 0.6, size=(J, 3))
    freq = rng.uniform(0.3, 1.5, size=(J, 3)) * 2 * np.pi  # up to 0.3 rad per frame
    phase = rng.uniform(0, 2 * np.pi, size=(J, 3))
    rotvec = amp[None] * np.sin(freq[None] * t[:, None, None] + phase[None])  # (T, J, 3)
    rotvec[:, 0] *= 0.15  # the root tilts only a little
    local = Rotation.from_rotvec(rotvec.reshape(-1, 3)).as_matrix().reshape(T, J, 3, 3)
    rate = rng.uniform(-0.08, 0.08) if turn_rate is None else turn_rate
    yaw = rng.uniform(-np.pi, np.pi) + rate * np.arange(T) + 0.2 * np.sin(2 * t)
    local[:, 0] = Rotation.from_euler("y", yaw[:, None]).as_matrix() @ local[:, 0]
    speed = rng.uniform(0.0, 1.5) / spec.fps
    root = np.stack([np.cumsum(np.sin(yaw)) * speed, offsets[0, 1] + 0.03 * np.sin(4 * t),
                     np.cumsum(np.cos(yaw)) * speed], axis=-1) + rng.uniform(-3, 3, size=3) * [1, 0, 1]
    return forward_kinematics(spec, local, root, offsets)


@pytest.fixture(scope="session")
def small_zoo(tmp_path_factory):
    """The --small zoo (animals/ and people/, a few hundred clips), built once per test session."""
    root = tmp_path_factory.mktemp("zoo")
    build_zoo(root, small=True, seed=0, workers=2, log=lambda *a: None)
    return root
