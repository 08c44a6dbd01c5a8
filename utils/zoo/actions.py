"""The action library: each action writes keys, oscillations, gait frames and free feet into a `Scene`.

An action gets its frame span [s, e) and a `Step` (speed, direction, turn angle, repetitions). Discrete actions are
keyframed poses eased in and out; locomotion sets a gait and a speed; jumps follow a ballistic arc.
Angles are radians; `dh` is the root height change as a share of the standing height; `dz` shifts the body
forward (+) over its feet, as a share of leg length.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from utils.zoo.gaits import GAITS, GRAVITY, gait_speed
from utils.zoo.timeline import FreeSpec, Scene

SPEEDS = ("slowly", "normally", "quickly")
SPEED_LEVEL = {"slowly": (0.0, 0.25), "normally": (0.4, 0.6), "quickly": (0.78, 1.0)}
TEMPO = {"slowly": 1.4, "normally": 1.0, "quickly": 0.72}  # duration factor of discrete actions
EAT_PITCH = -0.15  # grazing animals dip their shoulders a little

ANIMAL_ACTIONS = ("idle", "walk", "trot", "run", "walk_backward", "turn", "jump_forward", "jump_in_place",
                  "sit_down", "lie_down", "get_up", "look_around", "shake", "eat", "rear_up", "pounce")
HUMAN_ACTIONS = ("idle", "walk", "jog", "run", "walk_backward", "side_step", "turn", "jump_forward",
                 "jump_in_place", "squat", "sit_down", "stand_up", "wave", "kick", "punch", "crouch_walk")
LOCOMOTION = {"walk", "trot", "run", "jog", "walk_backward", "side_step", "crouch_walk"}
REPEATED = {"jump_forward", "jump_in_place", "squat", "wave", "kick", "punch", "shake", "look_around", "rear_up"}
# posture an action needs -> posture it leaves
POSTURE = {"sit_down": ("stand", "sit"), "lie_down": ("stand|sit", "lie"), "get_up": ("sit|lie", "stand"),
           "stand_up": ("sit", "stand")}
SEATED_OK = {"look_around", "wave", "idle"}  # also allowed while sitting or lying


@dataclass
class Step:
    action: str
    speed: str = "normally"
    direction: str = "none"  # forward, backward, left, right, circle, none
    angle: float = 0.0  # degrees, + turns left
    reps: int = 1
    frames: int = 0


# ---- shared pieces --------------------------------------------------------------------------------------------
def _level(sc: Scene, step: Step) -> float:
    return float(sc.rng.uniform(*SPEED_LEVEL[step.speed]))


def _heading_change(sc: Scene, s: int, e: int, angle_deg: float, share: float) -> None:
    """Turn the heading by `angle_deg` over the first `share` of [s, e) (all of it for circles, frame by frame)."""
    a = np.radians(angle_deg)
    h0 = sc.heading
    n = max(int((e - s) * share), 2)
    if share >= 1.0:  # a steady turn: keys every frame make the rate constant
        for k in range(n + 1):
            sc.tracks["yaw"].set(s + k, h0 + a * k / n)
    else:
        sc.tracks["yaw"].set(s, h0)
        sc.tracks["yaw"].set(s + n, h0 + a)
    sc.tracks["yaw"].set(e, h0 + a)
    sc.heading = h0 + a


def locomote(sc: Scene, step: Step, s: int, e: int, gait: str, crouch: float, human: bool) -> None:
    g = GAITS[gait]
    level = _level(sc, step)
    v = gait_speed(g, sc.body.leg, level)
    # a stride needs at least 5 frames to be drawn at 20 fps: small bodies that would need faster strides run
    # slower, keeping the order of slow and quick
    v_cap = sc.fps / 5 * sc.sweep / g.duty
    if gait_speed(g, sc.body.leg, 1.0) > v_cap:  # squeeze the gait's whole speed range under the cap
        v_lo = min(gait_speed(g, sc.body.leg, 0.0), 0.6 * v_cap)
        v = v_lo + (v_cap - v_lo) * level
    b = sc.blend
    if step.action == "side_step":
        sign = 1.0 if step.direction == "left" else -1.0
        sc.hold(s, e, v_side=sign * v, v_fwd=0.0)
    else:
        sign = -1.0 if step.action == "walk_backward" else 1.0
        sc.hold(s, e, v_fwd=sign * v, v_side=0.0)
        if step.direction in ("left", "right", "circle"):
            _heading_change(sc, s, e, step.angle, 1.0 if step.direction == "circle" else 0.4)
        else:
            sc.tracks["yaw"].set(e, sc.heading)
    lean = {"h_walk": 0.04, "h_jog": 0.12, "h_run": 0.2, "h_crouch": 0.45, "h_side": 0.02}.get(gait, 0.0)
    if human:
        sc.hold(s, e, dh=-crouch, dz=0.0, lean=lean * sign, neck_down=0.0, spine_bend=0.0)
    else:
        sc.hold(s, e, dh=-crouch, dz=0.0, pitch=0.0, neck_down=0.1 if gait.startswith("gallop") else 0.0,
                head_down=0.0, fore_flat=0.0, hind_flat=0.0, tail_up=0.25 if g.rock else 0.0, jaw=0.0, curl=0.0)
    sc.set_gait(s, e + b, gait, sign * v)


def jump(sc: Scene, s: int, e: int, step: Step, height: float, distance: float, human: bool,
         crouch_s: float = 0.35) -> None:
    """`step.reps` ballistic jumps in [s, e): crouch, push off, flight (feet follow the body), land, recover."""
    fps = sc.fps
    flight = 2.0 * np.sqrt(2.0 * height / GRAVITY)  # seconds in the air
    nf = max(int(round(flight * fps)), 3)
    v0 = GRAVITY * flight / 2.0
    v = distance / (nf / fps)
    nc = int(round(crouch_s * fps * TEMPO[step.speed]))
    per = nc + nf + int(0.6 * fps)
    sc.freeze_feet(s + sc.blend, e)  # after the previous action has come to rest
    crouch = 0.22 if human else 0.2
    for r in range(step.reps):
        t0 = s + r * per
        take = t0 + nc
        land = take + nf
        if land + 3 >= sc.T:
            break
        sc.keys("dh", [(t0, 0.0), (take - 3, -crouch), (take, 0.0), (land, 0.0), (land + 3, -crouch * 0.6),
                       (land + int(0.5 * fps), 0.0)])
        run_out = int(0.3 * fps) if distance > 0 else 3  # a forward jump runs out its speed in a step or two
        sc.keys("v_fwd", [(take - 3, 0.0), (take, v), (land, v), (land + run_out, 0.0)])
        if distance > 0:
            sc.allow_steps(land + 1, land + run_out + 4, "h_walk" if human else "walk", v)
        tau = (np.arange(nf + 1)) / fps
        sc.add["y"][take:land + 1] += v0 * tau - 0.5 * GRAVITY * tau ** 2
        F = 2 if human else 4
        for f in range(F):
            sc.free.append(FreeSpec(f, take, land, "hang", min(0.25 * sc.body.leg, height)))
        if human:
            for arm in ("l_flex", "r_flex"):
                sc.keys(arm, [(t0, 0.0), (take - 3, -0.6), (take + 1, 2.2), (land, 0.6), (land + 6, 0.2)])
            sc.keys("lean", [(t0, 0.05), (take - 3, 0.45), (take, 0.05), (land + 3, 0.3), (land + 10, 0.05)])
        else:
            sc.keys("pitch", [(t0, 0.0), (take - 3, -0.05), (take, 0.12), (land - 2, -0.1), (land + 5, 0.0)])
    sc.keys("v_fwd", [(e, 0.0)])
    sc.keys("dh", [(e, 0.0)])


def jump_frames(sc: Scene, step: Step, height: float, crouch_s: float = 0.35) -> int:
    nf = max(int(round(2.0 * np.sqrt(2.0 * height / GRAVITY) * sc.fps)), 3)
    return step.reps * (int(round(crouch_s * sc.fps * TEMPO[step.speed])) + nf + int(0.6 * sc.fps))


# ---- animals --------------------------------------------------------------------------------------------------
def animal_pose(sc: Scene, posture: str) -> dict[str, float]:
    """Channel values of a resting posture; sitting pitches the body up so the shoulders keep their height."""
    if posture == "sit":
        rise = float(np.arcsin(np.clip(0.4 * sc.body.height / max(sc.body.trunk, 1e-3), 0.2, 0.75)))
        return dict(dh=-0.45, pitch=rise, dz=-0.15, hind_flat=1.0, fore_flat=0.0, tail_up=rise + 0.25,
                    neck_down=-0.1, head_down=0.0)
    if posture == "lie":
        # lying levels the body (a rabbit's nose-down stance would push its elbows into the ground)
        return dict(dh=-0.56, pitch=-0.8 * sc.body.pitch, dz=-0.1, hind_flat=1.0, fore_flat=1.0, tail_up=0.35,
                    neck_down=-0.15, head_down=0.1)
    raise ValueError(f"unknown posture {posture!r}; use 'sit' or 'lie'")


HUMAN_SIT = dict(dh=-0.48, dz=-0.32, lean=0.05, l_flex=0.5, r_flex=0.5, l_elbow=1.2, r_elbow=1.2)


def animal_action(sc: Scene, step: Step, s: int, e: int) -> None:
    sp, body, rng, b = sc.species, sc.body, sc.rng, sc.blend
    a = step.action
    if a in ("walk", "trot", "run", "walk_backward"):
        gait = sp.gaits["walk" if a == "walk_backward" else a]
        crouch = {"walk": 0.04, "amble": 0.06, "trot": 0.07, "hop": 0.1}.get(gait, 0.12)
        locomote(sc, step, s, e, gait, crouch, human=False)
        wag = sp.tail_wag * (0.5 if a == "run" else 1.0)
        sc.oscillate("tail_yaw", s, e, wag * 0.5, rng.uniform(1.0, 2.5))
    elif a == "turn":
        g = GAITS["walk"]
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, dh=-0.03, pitch=0.0, dz=0.0, fore_flat=0.0, hind_flat=0.0)
        _heading_change(sc, s, e, step.angle, 0.85)
        sc.hold(s, e, bend=0.25 * np.sign(step.angle), neck_yaw=0.35 * np.sign(step.angle))
        sc.keys("bend", [(e + b, 0.0)])
        sc.keys("neck_yaw", [(e + b, 0.0)])
        sc.set_gait(s, e, g.name, 0.0)
    elif a == "idle":
        sc.hold(s, e, v_fwd=0.0, v_side=0.0)
        if sc.posture == "stand":
            sc.hold(s, e, dh=0.0, pitch=0.0, dz=0.0, neck_down=0.0)
        else:  # resting where it sits or lies
            sc.freeze_feet(s, e + 1)
        sc.oscillate("dh", s, e, 0.006, rng.uniform(0.3, 0.6))  # breathing
        sc.oscillate("neck_yaw", s, e, rng.uniform(0.05, 0.2), rng.uniform(0.15, 0.4))
        sc.oscillate("tail_yaw", s, e, sp.tail_wag * 0.4, rng.uniform(0.5, 2.0))
    elif a in ("jump_forward", "jump_in_place", "pounce"):
        sc.hold(s, e, v_side=0.0, pitch=0.0, dz=0.0, fore_flat=0.0, hind_flat=0.0, neck_down=0.0)
        if a == "pounce":
            sc.hold(s, e, neck_down=0.35, dh=0.0)
            sc.oscillate("roll", s, s + int(0.8 * sc.fps), 0.05, 3.0)
            jump(sc, s, e, step, 0.12 * body.leg, rng.uniform(2.0, 3.0) * body.leg, False, crouch_s=0.9)
        else:
            h = rng.uniform(0.35, 0.6) * body.leg
            d = rng.uniform(1.5, 2.6) * body.leg if a == "jump_forward" else 0.0
            jump(sc, s, e, step, h, d, False)
    elif a == "sit_down":
        sc.freeze_feet(s + b, e + 1)
        sc.hold(s + b, e, v_fwd=0.0, v_side=0.0, **animal_pose(sc, "sit"), blend=int((e - s - b) * 0.6))
        sc.oscillate("tail_yaw", s, e, sp.tail_wag * 0.3, 1.0)
    elif a == "lie_down":
        sc.freeze_feet(s + b, e + 1)
        sc.hold(s + b, e, v_fwd=0.0, v_side=0.0, **animal_pose(sc, "lie"), blend=int((e - s - b) * 0.7))
    elif a == "get_up":
        sc.freeze_feet(s, s + int((e - s) * 0.75))
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, dh=0.0, pitch=0.0, dz=0.0, hind_flat=0.0, fore_flat=0.0,
                tail_up=0.0, neck_down=0.0, head_down=0.0, blend=int((e - s) * 0.6))
    elif a == "look_around":
        sc.hold(s, e, v_fwd=0.0, v_side=0.0)
        if sc.posture == "stand":
            sc.freeze_feet(s + b, e)
        side = rng.choice([-1.0, 1.0])
        sc.oscillate("neck_yaw", s, e, side * rng.uniform(0.6, 0.9), step.reps / 2 / ((e - s) / sc.fps),
                     ramp=max(b, 4))
        sc.oscillate("head_down", s, e, -0.15, 0.5)
    elif a == "shake":
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, dh=-0.03, pitch=0.0)
        sc.freeze_feet(s + b, e)  # after the previous action has come to rest
        hz = rng.uniform(3.5, 5.0) * np.sqrt(0.5 / max(body.leg, 0.1)) ** 0.5
        sc.oscillate("roll", s, e, 0.12, hz, ramp=4)
        sc.oscillate("head_roll", s, e, 0.5, hz, np.pi / 3, ramp=4)
        sc.oscillate("neck_yaw", s, e, 0.3, hz, np.pi / 4, ramp=4)
        sc.oscillate("tail_yaw", s, e, 0.6, hz, np.pi / 2, ramp=4)
    elif a == "eat":
        sc.freeze_feet(s + b, e)  # after the previous action has come to rest
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, neck_down=sc.graze[0], head_down=sc.graze[1], dh=-0.03, pitch=EAT_PITCH,
                blend=int(0.6 * sc.fps))
        for k in ("neck_down", "head_down", "pitch"):
            sc.keys(k, [(e + b, 0.0)])
        sc.oscillate("jaw", s + int(0.6 * sc.fps), e, 0.18, rng.uniform(1.2, 2.0), ramp=3)
    elif a == "rear_up":
        per = (e - s) // step.reps
        up = np.radians(35 if sp.name == "elephant" else rng.uniform(45, 60))
        sc.freeze_feet(s + b, e)  # after the previous action has come to rest
        sc.hold(s, e, v_fwd=0.0, v_side=0.0)
        for r in range(step.reps):
            t0 = s + r * per
            lift, down = t0 + int(per * 0.45), t0 + int(per * 0.75)
            sc.keys("pitch", [(t0, 0.0), (lift, up), (down, up * 0.9), (t0 + per - 2, 0.0)])
            sc.keys("dz", [(t0, 0.0), (lift, -0.2), (t0 + per - 2, 0.0)])
            sc.keys("dh", [(t0, 0.0), (t0 + 4, -0.12), (lift, -0.05), (t0 + per - 2, 0.0)])
            sc.keys("tail_up", [(t0, 0.0), (lift, up * 0.8), (t0 + per - 2, 0.0)])
            for f in (0, 1):
                sc.free.append(FreeSpec(f, t0 + int(per * 0.2), t0 + int(per * 0.78), "tuck"))
    else:
        raise ValueError(f"unknown animal action {a!r}; known: {ANIMAL_ACTIONS}")


# ---- people ---------------------------------------------------------------------------------------------------
HUMAN_GAIT = {"walk": "h_walk", "jog": "h_jog", "run": "h_run", "walk_backward": "h_walk", "side_step": "h_side",
              "crouch_walk": "h_crouch"}


def human_action(sc: Scene, step: Step, s: int, e: int) -> None:
    body, rng, b = sc.body, sc.rng, sc.blend
    a = step.action
    rest_arms = dict(l_abd=0.0, r_abd=0.0, l_elbow=0.15, r_elbow=0.15, l_flex=0.0, r_flex=0.0)
    if a in HUMAN_GAIT:
        gait = HUMAN_GAIT[a]
        crouch = {"h_walk": 0.04, "h_jog": 0.06, "h_run": 0.08, "h_crouch": 0.25, "h_side": 0.05}[gait]
        locomote(sc, step, s, e, gait, crouch, human=True)
        elbow = {"h_jog": 1.4, "h_run": 1.6, "h_crouch": 0.6}.get(gait, 0.25)
        sc.hold(s, e, **{**rest_arms, "l_elbow": elbow, "r_elbow": elbow, "l_abd": 0.12, "r_abd": 0.12})
    elif a == "turn":
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, dh=-0.02, lean=0.0, dz=0.0, **rest_arms)
        _heading_change(sc, s, e, step.angle, 0.85)
        sc.hold(s, e, head_yaw=0.3 * np.sign(step.angle), twist=0.15 * np.sign(step.angle))
        sc.keys("head_yaw", [(e + b, 0.0)])
        sc.keys("twist", [(e + b, 0.0)])
        sc.set_gait(s, e, "h_walk", 0.0)
    elif a == "idle":
        sc.hold(s, e, v_fwd=0.0, v_side=0.0)
        if sc.posture == "stand":
            sc.hold(s, e, dh=0.0, lean=0.0, dz=0.0, spine_bend=0.0, **rest_arms)
        else:
            sc.freeze_feet(s, e + 1)
        sc.oscillate("dh", s, e, 0.004, rng.uniform(0.2, 0.4))
        sc.oscillate("head_yaw", s, e, rng.uniform(0.05, 0.3), rng.uniform(0.1, 0.3))
        sc.oscillate("roll", s, e, 0.02, rng.uniform(0.1, 0.3))
    elif a in ("jump_forward", "jump_in_place"):
        sc.hold(s, e, v_side=0.0, dz=0.0, **rest_arms)
        h = rng.uniform(0.15, 0.35) * body.leg
        d = rng.uniform(0.6, 1.2) * body.leg if a == "jump_forward" else 0.0
        jump(sc, s, e, step, h, d, True)
    elif a == "squat":
        sc.freeze_feet(s + b, e)  # after the previous action has come to rest
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, **rest_arms)
        per = (e - s) // step.reps
        for r in range(step.reps):
            t0 = s + r * per
            mid = t0 + per // 2
            sc.keys("dh", [(t0, 0.0), (mid, -0.42), (t0 + per, 0.0)])
            sc.keys("dz", [(t0, 0.0), (mid, -0.22), (t0 + per, 0.0)])
            sc.keys("lean", [(t0, 0.0), (mid, 0.55), (t0 + per, 0.0)])
            for arm in ("l_flex", "r_flex"):
                sc.keys(arm, [(t0, 0.0), (mid, 1.35), (t0 + per, 0.0)])
    elif a == "sit_down":
        sc.freeze_feet(s + b, e + 1)
        n = e - s
        sc.keys("v_fwd", [(s, sc.tracks["v_fwd"].last()), (s + b, 0.0)])
        sc.keys("dh", [(s, 0.0), (s + int(0.75 * n), -0.48), (e, -0.48)])
        sc.keys("dz", [(s, 0.0), (s + int(0.75 * n), -0.32), (e, -0.32)])
        sc.keys("lean", [(s, 0.0), (s + int(0.45 * n), 0.5), (s + int(0.85 * n), 0.05), (e, 0.05)])
        sc.hold(s, e, **{**rest_arms, "l_flex": 0.5, "r_flex": 0.5, "l_elbow": 1.2, "r_elbow": 1.2})
    elif a == "stand_up":
        sc.freeze_feet(s, s + int((e - s) * 0.9))
        n = e - s
        sc.keys("dh", [(s, -0.48), (s + int(0.3 * n), -0.45), (s + int(0.85 * n), 0.0), (e, 0.0)])
        sc.keys("dz", [(s, -0.32), (s + int(0.3 * n), -0.25), (s + int(0.85 * n), 0.0), (e, 0.0)])
        sc.keys("lean", [(s, 0.05), (s + int(0.35 * n), 0.55), (s + int(0.85 * n), 0.02), (e, 0.0)])
        sc.hold(s, e, **rest_arms)
    elif a == "wave":
        side = "r" if rng.random() < 0.7 else "l"
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, **{**rest_arms, f"{side}_abd": 2.5, f"{side}_elbow": 0.6,
                                                f"{side}_flex": 0.25})
        sc.keys(f"{side}_abd", [(e + b, 0.0)])
        sc.oscillate(f"{side}_abd", s + b, e, 0.3, step.reps / max((e - s - b) / sc.fps, 0.5), ramp=3)
        sc.oscillate(f"{side}_elbow", s + b, e, 0.3, step.reps / max((e - s - b) / sc.fps, 0.5), ramp=3)
    elif a == "punch":
        sc.freeze_feet(s + b, e)  # after the previous action has come to rest
        guard = dict(l_flex=0.7, r_flex=0.7, l_elbow=2.0, r_elbow=2.0, l_abd=0.25, r_abd=0.25)
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, dh=-0.04, **guard)
        per = (e - s - b) // step.reps
        for r in range(step.reps):
            side = "r" if r % 2 == 0 else "l"
            t0 = s + b + r * per
            hit = t0 + per // 2
            sc.keys(f"{side}_flex", [(t0, 0.7), (hit, 1.5), (t0 + per, 0.7)])
            sc.keys(f"{side}_elbow", [(t0, 2.0), (hit, 0.05), (t0 + per, 2.0)])
            sc.keys("twist", [(t0, 0.0), (hit, 0.3 if side == "r" else -0.3), (t0 + per, 0.0)])
        for k, v in rest_arms.items():
            sc.tracks[k].set(e + b, v)
    elif a == "kick":
        sc.freeze_feet(s + b, e)  # after the previous action has come to rest
        sc.hold(s, e, v_fwd=0.0, v_side=0.0, **{**rest_arms, "l_abd": 0.5, "r_abd": 0.5})
        per = (e - s) // step.reps
        foot = 1 if rng.random() < 0.75 else 0
        for r in range(step.reps):
            t0 = s + r * per
            sc.free.append(FreeSpec(foot, t0 + 2, t0 + int(per * 0.75), "kick", rng.uniform(1.0, 1.4)))
            sc.keys("lean", [(t0, 0.0), (t0 + per // 3, -0.2), (t0 + per, 0.0)])
    else:
        raise ValueError(f"unknown human action {a!r}; known: {HUMAN_ACTIONS}")


def action_frames(sc: Scene, step: Step, human: bool) -> int:
    """How long a step lasts, from its action, speed, turn angle and repetitions."""
    fps, rng, tempo = sc.fps, sc.rng, TEMPO[step.speed]
    a = step.action
    if a in LOCOMOTION:
        secs = rng.uniform(2.0, 4.5) * (1.6 if step.direction == "circle" else 1.0)
    elif a == "turn":
        rate = {"slowly": 60.0, "normally": 100.0, "quickly": 160.0}[step.speed]
        secs = abs(step.angle) / rate + 0.4
    elif a in ("jump_forward", "jump_in_place", "pounce"):
        h = 0.12 if a == "pounce" else (0.25 if human else 0.5)
        return jump_frames(sc, step, h * sc.body.leg, 0.9 if a == "pounce" else 0.35) + int(0.3 * fps)
    elif a in ("squat", "kick", "punch", "wave", "shake", "look_around", "rear_up"):
        per = {"squat": 1.8, "kick": 1.3, "punch": 0.6, "wave": 0.55, "shake": 1.2, "look_around": 1.6,
               "rear_up": 2.4}[a]
        secs = per * step.reps * tempo + (0.4 if a in ("punch", "wave") else 0.0)
    else:
        secs = {"idle": rng.uniform(1.5, 3.0), "sit_down": 1.8, "lie_down": 2.4, "get_up": 1.8, "stand_up": 1.8,
                "eat": rng.uniform(2.5, 4.0)}[a] * (tempo if a not in ("idle", "eat") else 1.0)
    return int(round(secs * fps))


def arm_swing(phase: np.ndarray, weight: np.ndarray, amp: float) -> np.ndarray:
    """(T,) forward swing of the left arm in counter-phase with the left leg (the right arm gets the opposite)."""
    return amp * weight * np.cos(2 * np.pi * phase)
