"""Gaits and footfalls: stride timing from the Froude number, and a foot planner that keeps stance feet planted.

Facts used (DESIGN.md, after Alexander 1984 and Hildebrand 1965): walking Fr = v^2/(gL) ~0.1-0.4, trotting
~0.5-2, galloping / bounding above ~2.5; relative stride length ~2.3 Fr^0.3; duty factors walk ~0.65, trot 0.5,
gallop 0.3-0.4; phase offsets below. Feet are ordered as the skeleton's foot list: animals (LF, RF, LH, RH),
people (left, right).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRAVITY = 9.81


@dataclass(frozen=True)
class Gait:
    name: str
    duty: float  # share of a stride each foot is on the ground
    offsets: tuple[float, ...]  # phase at which each foot's stance starts, in foot order
    froude: tuple[float, float]  # usual Froude range, slow to fast
    bob: float  # vertical root oscillation, share of leg length
    bob_per_stride: int  # 2 for symmetric gaits (one bob per step pair), 1 for gallops and hops
    lift: float  # swing clearance, share of leg length
    rock: float = 0.0  # body pitch oscillation, radians (gallops and hops rock the spine)


#                        LF    RF    LH   RH
GAITS: dict[str, Gait] = {g.name: g for g in (
    Gait("walk", 0.65, (0.25, 0.75, 0.0, 0.5), (0.1, 0.4), 0.012, 2, 0.2),
    Gait("amble", 0.5, (0.25, 0.75, 0.0, 0.5), (0.45, 0.9), 0.015, 2, 0.2),
    Gait("trot", 0.5, (0.0, 0.5, 0.5, 0.0), (0.6, 1.8), 0.02, 2, 0.24),
    Gait("gallop_rotary", 0.36, (0.6, 0.5, 0.0, 0.1), (2.5, 4.0), 0.02, 1, 0.26, 0.04),
    Gait("gallop_transverse", 0.36, (0.5, 0.6, 0.0, 0.1), (2.5, 4.0), 0.02, 1, 0.26, 0.04),
    Gait("bound", 0.32, (0.5, 0.53, 0.0, 0.03), (2.0, 3.5), 0.025, 1, 0.3, 0.05),
    Gait("hop", 0.4, (0.5, 0.52, 0.0, 0.02), (0.5, 1.5), 0.025, 1, 0.3, 0.05),
    # people: left, right
    Gait("h_walk", 0.62, (0.0, 0.5), (0.1, 0.3), 0.02, 2, 0.12),
    Gait("h_jog", 0.42, (0.0, 0.5), (0.5, 1.0), 0.03, 2, 0.18),
    Gait("h_run", 0.33, (0.0, 0.5), (1.3, 2.2), 0.04, 2, 0.22),
    Gait("h_crouch", 0.65, (0.0, 0.5), (0.04, 0.12), 0.01, 2, 0.1),
    Gait("h_side", 0.6, (0.0, 0.5), (0.03, 0.12), 0.01, 2, 0.1),
)}


def gait_speed(gait: Gait, leg: float, level: float) -> float:
    """Speed in m/s at `level` in [0, 1] of the gait's Froude range for a leg of length `leg` metres."""
    fr = gait.froude[0] + (gait.froude[1] - gait.froude[0]) * level
    return float(np.sqrt(fr * GRAVITY * leg))


def stride_frequency(speed: np.ndarray, leg: float, duty: np.ndarray, max_stance: float) -> np.ndarray:
    """Strides per second at `speed` (T,) m/s: Alexander's stride length 2.3 Fr^0.3 L, shortened when the stance
    sweep (speed * stance time) would be longer than the legs can reach (`max_stance` metres)."""
    v = np.abs(speed)
    fr = v ** 2 / (GRAVITY * leg)
    stride = 2.3 * np.maximum(fr, 1e-4) ** 0.3 * leg
    f = v / stride
    return np.maximum(f, v * duty / max_stance)


def smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass
class FootPlan:
    """Per-frame inputs of the foot planner (arrays over T frames)."""

    root_xz: np.ndarray  # (T, 2) ground position of the locomotion root (without posture shifts)
    yaw: np.ndarray  # (T,) heading, radians
    phase: np.ndarray  # (T,) gait phase in strides (increases only while stepping)
    freq: np.ndarray  # (T,) strides per second
    duty: np.ndarray  # (T,)
    offsets: np.ndarray  # (T, F) stance-start phase of each foot
    lift: np.ndarray  # (T,) swing clearance, metres
    active: np.ndarray  # (T,) bool: stepping with the gait
    step_ok: np.ndarray  # (T,) bool: a foot far from its rest place may take a corrective step
    free: list  # (foot, t0, t1, (T, 3) world target) windows where the foot leaves the ground on purpose


def heading_frame(yaw: np.ndarray, xz: np.ndarray) -> np.ndarray:
    """(T,), (T, [F,] 2) body-frame (x left, z forward) -> (T, F, 2) world ground coordinates (x, z)."""
    shape = yaw.shape + (1,) * (xz.ndim - 2)  # broadcast over the feet axis when there is one
    c, s = np.cos(yaw).reshape(shape), np.sin(yaw).reshape(shape)
    x, z = xz[..., 0], xz[..., 1]
    return np.stack([x * c + z * s, -x * s + z * c], axis=-1)


def plan_feet(plan: FootPlan, home: np.ndarray, foot_y: float, leg: float, fps: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """Foot positions (T, F, 3) and foot yaw (T, F).

    A stance foot stays exactly where it landed. A foot lifts when its phase leaves the duty window and lands where
    its rest place will be at mid-stance, so the body passes over it symmetrically, on any path the root takes.
    """
    T, F = plan.offsets.shape
    homes = plan.root_xz[:, None] + heading_frame(plan.yaw, np.broadcast_to(home, (T, F, 2)))  # (T, F, 2)
    pos = np.zeros((T, F, 3))
    fyaw = np.zeros((T, F))
    cur = np.concatenate([homes[0], np.full((F, 1), foot_y)], axis=-1)[:, [0, 2, 1]]  # (F, 3) x, y, z
    cur_yaw = np.full(F, plan.yaw[0])
    mode = ["stance"] * F
    swing: list[tuple | None] = [None] * F
    cycle = np.floor(plan.phase[0] - plan.offsets[0] - plan.duty[0])
    free_at = {(f, t0): (t1, tgt) for f, t0, t1, tgt in plan.free}
    free_now: list[tuple | None] = [None] * F
    far = 0.12 * leg

    def home_at(t: int, f: int) -> np.ndarray:
        t = min(max(t, 0), T - 1)
        return np.array([homes[t, f, 0], foot_y, homes[t, f, 1]])

    def start_swing(t: int, f: int, n: int, target: np.ndarray, target_yaw: float) -> None:
        swing[f] = (t, max(n, 2), cur[f].copy(), target, cur_yaw[f], target_yaw, max(plan.lift[t], 0.05 * leg))
        mode[f] = "swing"

    for t in range(T):
        new_cycle = np.floor(plan.phase[t] - plan.offsets[t] - plan.duty[t])
        for f in range(F):
            if (f, t) in free_at and mode[f] != "free":
                t1, tgt = free_at[(f, t)]
                free_now[f] = (t, t1, cur[f].copy(), tgt)
                mode[f] = "free"
            if mode[f] == "free":
                t0, t1, start, tgt = free_now[f]
                if t < t1:
                    w = smoothstep((t - t0 + 1) / 4.0)
                    cur[f] = start + (tgt[t] - start) * w
                    cur[f, 1] = max(cur[f, 1], foot_y)  # a free foot never goes through the floor
                else:
                    if tgt[t1, 1] <= foot_y + 0.01 * leg:
                        cur[f] = np.array([tgt[t1, 0], foot_y, tgt[t1, 2]])
                        mode[f] = "stance"
                    else:
                        n = int(round(0.3 * fps))
                        start_swing(t, f, n, home_at(t + n, f), plan.yaw[min(t + n, T - 1)])
                    cycle[f] = new_cycle[f]
            if mode[f] == "stance":
                crossed = new_cycle[f] > cycle[f]
                if plan.active[t] and crossed:
                    f_hz = max(plan.freq[t], 0.3)
                    n = int(round((1.0 - plan.duty[t]) / f_hz * fps))
                    mid = t + n - 1 + int(round(plan.duty[t] / f_hz * fps / 2))  # landing frame + half a stance
                    start_swing(t, f, n, home_at(mid, f), plan.yaw[min(mid, T - 1)])
                elif (not plan.active[t] and plan.step_ok[t] and "swing" not in mode
                      and np.linalg.norm(cur[f, [0, 2]] - homes[t, f]) > far):
                    n = int(round(0.35 * fps))
                    start_swing(t, f, n, home_at(t + n, f), plan.yaw[min(t + n, T - 1)])
                cycle[f] = new_cycle[f]
            if mode[f] == "swing":
                t0, n, start, end, y0, y1, lift = swing[f]
                u = (t - t0 + 1) / n
                s = smoothstep((u - 0.12) / 0.76)
                cur[f, [0, 2]] = start[[0, 2]] + (end[[0, 2]] - start[[0, 2]]) * s
                cur[f, 1] = start[1] + (end[1] - start[1]) * s + lift * np.sin(np.pi * min(u, 1.0)) ** 0.5
                cur_yaw[f] = y0 + np.angle(np.exp(1j * (y1 - y0))) * s
                if u >= 1.0:
                    cur[f] = end
                    mode[f] = "stance"
            pos[t, f] = cur[f]
            fyaw[t, f] = cur_yaw[f]
    return pos, fyaw
