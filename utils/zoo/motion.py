"""One clip from start to end: sample a composition of actions, play it into a scene, and pose the skeleton.

`make_clip(group, focus, gender, seed, species, ...)` is a pure function of its arguments, so clips can be
generated in any order by any number of workers and still come out byte-identical.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utils.zoo import rig
from utils.zoo.actions import (EAT_PITCH, HUMAN_ACTIONS, HUMAN_SIT, LOCOMOTION, POSTURE, REPEATED, SEATED_OK, SPEEDS,
                               Step, action_frames, animal_action, animal_pose, arm_swing, human_action)
from utils.zoo.bodies import SPECIES, Body, animal_body, human_body
from utils.zoo.gaits import GAITS, FootPlan, gait_speed, heading_frame, plan_feet, stride_frequency
from utils.zoo.timeline import FreeSpec, Scene

ARM_SWING = {"h_walk": 0.35, "h_jog": 0.6, "h_run": 0.8, "h_crouch": 0.2, "h_side": 0.05}


@dataclass
class Clip:
    joints: np.ndarray  # (T, J, 3) world positions, metres
    labels: dict
    steps: list[Step]
    clamped: int  # leg-frames whose target was out of reach (the foot was moved)


def _allowed(action: str, posture: str) -> bool:
    if action in POSTURE:
        return posture in POSTURE[action][0].split("|")
    return posture == "stand" or action in SEATED_OK


def _params(action: str, speed: str, rng: np.random.Generator) -> Step:
    st = Step(action, speed)
    if action == "walk_backward":
        st.direction = "backward"
    elif action == "side_step":
        st.direction = str(rng.choice(["left", "right"]))
    elif action in LOCOMOTION:
        st.direction = str(rng.choice(["forward", "left", "right", "circle"], p=[0.5, 0.18, 0.18, 0.14]))
        if st.direction in ("left", "right"):
            st.angle = float(rng.choice([45, 60, 90, 120])) * (1 if st.direction == "left" else -1)
        elif st.direction == "circle":
            st.angle = 360.0 * rng.choice([-1, 1])
    elif action == "turn":
        st.angle = float(rng.choice([45, 90, 135, 180])) * rng.choice([-1, 1])
        st.direction = "left" if st.angle > 0 else "right"
    if action in REPEATED:
        st.reps = int(rng.choice([1, 2, 3], p=[0.45, 0.35, 0.2]))
        if action in ("rear_up", "look_around"):
            st.reps = min(st.reps, 2)
    return st


def _start_posture(first: str, available: tuple[str, ...], rng: np.random.Generator, human: bool) -> str:
    if first not in ("get_up", "stand_up"):
        return "stand"
    if human:
        return "sit"
    return str(rng.choice([{"sit_down": "sit", "lie_down": "lie"}[a] for a in available
                           if a in ("sit_down", "lie_down")]))


def sample_steps(focus: str, available: tuple[str, ...], rng: np.random.Generator, human: bool
                 ) -> tuple[list[Step], str]:
    """A valid sequence of 1-3 actions containing `focus`, and the posture the clip starts in."""
    speed = str(rng.choice(SPEEDS))
    for _ in range(200):
        n = int(rng.choice([1, 2, 3], p=[0.45, 0.4, 0.15]))
        seq = [str(rng.choice(available)) for _ in range(n)]
        seq[int(rng.integers(n))] = focus
        if any(a == b for a, b in zip(seq[:-1], seq[1:])):
            continue
        posture = _start_posture(seq[0], available, rng, human)
        start, ok = posture, True
        for a in seq:
            if not _allowed(a, posture):
                ok = False
                break
            posture = POSTURE[a][1] if a in POSTURE else posture
        if ok:
            return [_params(a, speed, rng) for a in seq], start
    raise RuntimeError(f"could not compose a valid clip around {focus!r}")


def _sample_fitting(focus: str, available: tuple[str, ...], probe: Scene, rng: np.random.Generator, human: bool,
                    max_frames: int) -> tuple[list[Step], str]:
    """A composition around `focus` that fits in `max_frames`, or the focus action alone, shortened."""
    for _ in range(60):
        steps, posture = sample_steps(focus, available, rng, human)
        for st in steps:
            st.frames = action_frames(probe, st, human)
        if sum(s.frames for s in steps) <= max_frames - 4:
            return steps, posture
    step = _params(focus, str(rng.choice(SPEEDS)), rng)
    step.reps = 1
    step.frames = min(action_frames(probe, step, human), max_frames - 4)
    return [step], _start_posture(focus, available, rng, human)


def _graze(body: Body, pitch: float) -> tuple[float, float]:
    """(neck bend, head bend) that bring the mouth nearest the ground at the eating pitch: the neck swings down
    and the head turns back up against it so the muzzle points at the ground. Long necks reach it; short ones
    get as close as they can."""
    necks, heads = np.meshgrid(np.linspace(0.0, 2.6, 27), np.linspace(-2.0, 0.6, 14), indexing="ij")
    necks, heads = necks.ravel(), heads.ravel()
    K = len(necks)
    ch = {c: np.zeros(K) for c in rig.ANIMAL_CHANNELS}
    ch["neck_down"], ch["head_down"], ch["pitch"] = necks, heads, np.full(K, pitch)
    J = rig.animal_trunk(body, ch, np.tile([0.0, body.height * 0.97, 0.0], (K, 1)), np.zeros(K))
    n = body.spec.joint_names.index
    jaw = J[:, n("jaw"), 1]
    others = J[:, [n(x) for x in ("neck1", "neck2", "head", "l_eye", "r_eye")], 1].min(1)
    target = 0.03 * body.leg
    cost = np.abs(jaw - target) + 0.02 * body.leg * necks + np.where(others > jaw, 0.0, 10.0)
    i = int(np.argmin(cost))
    return float(necks[i]), float(heads[i])


def make_clip(group: str, focus: str, gender: str, seed: int | list[int], species: str = "human",
              max_frames: int = 196, fps: float = 20.0, steps: list[Step] | None = None) -> Clip:
    """Generate one clip of `group` ("animals" or "people") built around the action `focus`.

    `steps` fixes the composition (actions with their speed, direction, angle and repetitions) instead of
    sampling one; their durations are still sampled."""
    rng = np.random.default_rng(seed)
    human = group == "people"
    if human:
        body, sp, available = human_body(gender, rng), None, HUMAN_ACTIONS
    else:
        if species not in SPECIES:
            raise ValueError(f"unknown species {species!r}; known: {sorted(SPECIES)}")
        sp = SPECIES[species]
        body, available = animal_body(sp, gender, rng), sp.actions
    if focus not in available:
        raise ValueError(f"{species} cannot {focus!r}; its actions: {available}")
    channels = rig.HUMAN_CHANNELS if human else rig.ANIMAL_CHANNELS
    min_frames = min(int(2 * fps) + 1, max_frames)  # 2 s of features (they drop a frame): HumanML3D's shortest
    probe = Scene(body, sp, max_frames, fps, rng, channels)
    if steps is not None:
        for st in steps:
            if st.action not in available:
                raise ValueError(f"{species} cannot {st.action!r}; its actions: {available}")
            st.frames = action_frames(probe, st, human)
        posture = _start_posture(steps[0].action, available, rng, human)
        if sum(st.frames for st in steps) > max_frames - 4:
            raise ValueError(f"steps {[st.action for st in steps]} need more than {max_frames} frames")
    else:
        steps, posture = _sample_fitting(focus, available, probe, rng, human, max_frames)
    total = sum(s.frames for s in steps)
    T = int(min(max(total + rng.integers(2, int(0.8 * fps)), min_frames), max_frames))
    sc = Scene(body, sp, T, fps, rng, channels)
    sc.posture = posture
    sc.sweep = _stance_reach(body, human)
    if not human:
        sc.graze = _graze(body, EAT_PITCH)
    if posture != "stand":
        for k, v in (HUMAN_SIT if human else animal_pose(sc, posture)).items():
            sc.tracks[k].set(0, v)
        sc.freeze_feet(0, 1)
    t = 0
    for st in steps:
        (human_action if human else animal_action)(sc, st, t, t + st.frames)
        sc.posture = POSTURE[st.action][1] if st.action in POSTURE else sc.posture
        t += st.frames
    joints, clamped = _pose(sc, human)
    return Clip(joints, _labels(steps, body), steps, clamped)


def _labels(steps: list[Step], body: Body) -> dict:
    loco = [s for s in steps if s.action in LOCOMOTION or s.action == "turn"]
    return {
        "actions": [s.action for s in steps],
        "speed": steps[0].speed,
        "direction": loco[0].direction if loco else "none",
        "turn_angle": float(sum(s.angle for s in steps)),
        "repetitions": int(max([s.reps for s in steps if s.action in REPEATED] or [1])),
        "steps": [{"action": s.action, "direction": s.direction, "turn_angle": s.angle, "repetitions": s.reps,
                   "frames": s.frames} for s in steps],
        "body_scale": round(body.scale, 4),
        "height": round(body.height, 4),
    }


def _pose(sc: Scene, human: bool) -> tuple[np.ndarray, int]:
    body, T, fps = sc.body, sc.T, sc.fps
    ch = sc.render()
    yaw, v_fwd, v_side = ch["yaw"], ch["v_fwd"], ch["v_side"]
    fwd = np.stack([np.sin(yaw), np.cos(yaw)], -1)  # (T, 2) ground x, z
    left = np.stack([np.cos(yaw), -np.sin(yaw)], -1)
    vel = v_fwd[:, None] * fwd + v_side[:, None] * left
    root_xz = np.concatenate([np.zeros((1, 2)), np.cumsum(vel[:-1], 0) / fps])  # (T, 2)

    # gait per frame: stepping happens while a gait is set and the body moves or turns; a clip that ends in
    # motion keeps its last gait to the end
    speed = np.hypot(v_fwd, v_side)
    for t in range(1, T):
        if sc.gait[t] is None and sc.gait[t - 1] is not None and speed[t] > 0.02 * body.leg and sc.step_ok[t]:
            sc.gait[t] = sc.gait[t - 1]
    names = [g[0] if g else None for g in sc.gait]
    known = next((n for n in names if n), "h_walk" if human else "walk")
    filled, last = [], known
    for n in names:
        last = n or last
        filled.append(GAITS[last])
    # per-clip style: how high this body bobs and lifts its feet, how much it swings its arms, its duty factor
    style = sc.rng.uniform(0.8, 1.2, size=3)
    duty = np.array([g.duty for g in filled]) + sc.rng.uniform(-0.03, 0.03)
    offsets = np.array([g.offsets for g in filled])
    target = np.array([abs(g[1]) if g else 0.0 for g in sc.gait])
    yaw_rate = np.gradient(yaw) * fps
    turning = np.abs(yaw_rate) > 0.2
    active = np.array([n is not None for n in names]) & ((speed > 0.03 * np.sqrt(body.leg)) | turning) & sc.step_ok
    turn_speed = gait_speed(GAITS[filled[0].name if human else "walk"], body.leg, 0.3)
    # a turning body sweeps its far feet sideways: step as if the fastest foot's rest place set the speed
    spin = np.abs(yaw_rate) * np.linalg.norm(body.home, axis=-1).max()
    v_eff = np.maximum(speed + spin, np.where(turning, turn_speed, 0.0))
    freq = np.maximum(stride_frequency(v_eff, body.leg, duty, sc.sweep), 0.4)
    phase = sc.rng.uniform(0.0, 1.0) + np.cumsum(np.where(active, freq, 0.0)) / fps  # which foot leads varies
    weight = np.clip(speed / np.maximum(target, 1e-3), 0, 1) * (target > 0)

    bob_k = np.array([g.bob_per_stride for g in filled])
    bob = -style[0] * np.array([g.bob for g in filled]) * body.leg * np.cos(2 * np.pi * bob_k * phase) * weight
    ch["pitch" if not human else "lean"] += np.array([g.rock for g in filled]) * weight * np.sin(2 * np.pi * phase)
    if human:
        amp = np.array([ARM_SWING.get(g.name, 0.0) for g in filled])
        swing = arm_swing(phase, weight, style[2]) * amp
        ch["l_flex"] += swing
        ch["r_flex"] -= swing
        ch["twist"] += 0.12 * swing
    root_y = body.height * (1 + ch["dh"]) + ch["y"] + bob
    shift = ch["dz"][:, None] * body.leg * fwd
    root = np.stack([root_xz[:, 0] + shift[:, 0], root_y, root_xz[:, 1] + shift[:, 1]], -1)

    trunk = rig.human_trunk if human else rig.animal_trunk
    joints = trunk(body, ch, root, yaw)
    if not human:
        joints = _keep_above_ground(body, ch, root, yaw, joints)

    lift = style[1] * np.array([g.lift for g in filled]) * body.leg
    free = [(f.foot, f.t0, f.t1, _free_target(f, sc, body, joints, root_xz, yaw, ch)) for f in sc.free if f.t1 < T]
    plan = FootPlan(root_xz, yaw, phase, freq, duty, offsets, lift, active, sc.step_ok, free)
    feet, foot_yaw = plan_feet(plan, body.home, body.foot_height, body.leg, fps)
    if human:
        clamped = rig.human_legs(body, joints, feet, foot_yaw)
    else:
        clamped = rig.animal_legs(body, joints, ch, feet, yaw)
    return joints, clamped


def _stance_reach(body: Body, human: bool) -> float:
    """Longest stance sweep (metres) the legs allow with the body a little lowered while moving."""
    off, n = body.offsets, body.spec.joint_names.index
    mid, low, end = ("left_knee", "left_ankle", "left_foot") if human else ("lh_knee", "lh_hock", "lh_paw")
    r = float(np.linalg.norm(off[n(mid)]) + np.linalg.norm(off[n(low)]))
    longest = 0.96 * r + (0.0 if human else 0.85 * float(np.linalg.norm(off[n(end)])))
    h = (body.leg - body.foot_height) * 0.93
    return float(2 * 0.85 * np.sqrt(max(longest ** 2 - h ** 2, (0.1 * r) ** 2)))


def _keep_above_ground(body: Body, ch: dict, root, yaw, joints: np.ndarray) -> np.ndarray:
    """Raise a tail or neck that would touch the floor (a sitting dog's tail, a grazing foal's chin)."""
    n = body.spec.joint_names.index
    tail = [n(f"tail{k}") for k in range(1, 5)]
    head = [n(x) for x in ("neck1", "neck2", "head", "jaw", "l_eye", "r_eye")]
    floor = 0.015 * body.leg
    for _ in range(6):
        low_tail = joints[:, tail, 1].min(1) < floor
        low_head = joints[:, head, 1].min(1) < floor
        if not (low_tail.any() or low_head.any()):
            break
        ch["tail_up"] = ch["tail_up"] + 0.25 * _widen(low_tail)
        ch["neck_down"] = ch["neck_down"] - 0.12 * _widen(low_head)
        joints = rig.animal_trunk(body, ch, root, yaw)
    return joints


def _widen(mask: np.ndarray, k: int = 4) -> np.ndarray:
    """A 0/1 mask spread and smoothed over k frames each side, so corrections ease in and out."""
    kernel = np.hanning(2 * k + 3)[1:-1]
    return np.clip(np.convolve(mask.astype(float), kernel / kernel.max(), mode="same"), 0, 1)


def _free_target(f: FreeSpec, sc: Scene, body: Body, joints: np.ndarray, root_xz: np.ndarray, yaw: np.ndarray, ch: dict
                 ) -> np.ndarray:
    """(T, 3) world target of a foot that leaves the ground on purpose."""
    T = sc.T
    n = body.spec.joint_names.index
    fwd3 = np.stack([np.sin(yaw), np.zeros(T), np.cos(yaw)], -1)
    t = np.arange(T)
    u = np.clip((t - f.t0) / max(f.t1 - f.t0, 1), 0, 1)
    if f.kind == "hang":
        home = root_xz + heading_frame(yaw, np.broadcast_to(body.home[f.foot], (T, 2)))
        lead = 0.15 * ch["v_fwd"]  # land ahead of the hips: the body still travels while the legs absorb
        air = np.maximum(ch["y"], 0.0) + f.amount * np.sin(np.pi * u) ** 2
        return np.stack([home[:, 0] + lead * fwd3[:, 0], body.foot_height + air, home[:, 1] + lead * fwd3[:, 2]], -1)
    if f.kind == "tuck":
        side = ("lf", "rf")[f.foot]
        sh = joints[:, n(f"{side}_shoulder")]
        reach = sum(np.linalg.norm(body.offsets[n(f"{side}_{x}")]) for x in ("elbow", "wrist", "paw"))
        body_fwd = joints[:, n("spine3")] - joints[:, 0]
        body_fwd /= np.linalg.norm(body_fwd, axis=-1, keepdims=True)
        return sh + reach * (0.45 * body_fwd + np.array([0.0, -0.5, 0.0]))
    if f.kind == "kick":
        side = ("left", "right")[f.foot]
        hip = joints[:, n(f"{side}_hip")]
        leg = np.linalg.norm(body.offsets[n(f"{side}_knee")]) + np.linalg.norm(body.offsets[n(f"{side}_ankle")])
        theta = f.amount * np.sin(np.pi * u) ** 1.5
        up = np.array([0.0, 1.0, 0.0])
        return hip + 0.95 * leg * (np.sin(theta)[:, None] * fwd3 - np.cos(theta)[:, None] * up)
    raise ValueError(f"unknown free-foot kind {f.kind!r}")

