"""Keyframed control tracks and the scene an action writes into.

Every control (speed, heading, body height, neck angle ...) is a track of keys eased with smoothstep, so composed
actions blend over the few frames between one action's last key and the next one's first. Oscillations (a wag, a
wave, a shake) are added on top as arrays with their own envelopes.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from utils.zoo.bodies import Body, SpeciesDef
from utils.zoo.gaits import smoothstep


class Track:
    """Keys (frame, value) eased with smoothstep between them; flat before the first and after the last key."""

    def __init__(self, value: float = 0.0):
        self.keys: dict[int, float] = {0: float(value)}

    def set(self, frame: int, value: float) -> None:
        self.keys[int(frame)] = float(value)

    def hold(self, start: int, end: int, value: float, blend: int) -> None:
        """Reach `value` `blend` frames after `start` and keep it until `end`."""
        self.set(min(start + blend, end), value)
        self.set(end, value)

    def last(self) -> float:
        return self.keys[max(self.keys)]

    def render(self, T: int) -> np.ndarray:
        frames = np.array(sorted(self.keys))
        values = np.array([self.keys[f] for f in frames])
        t = np.arange(T)
        i = np.clip(np.searchsorted(frames, t, side="right") - 1, 0, len(frames) - 1)
        j = np.minimum(i + 1, len(frames) - 1)
        span = np.maximum(frames[j] - frames[i], 1)
        w = np.where(j > i, smoothstep((t - frames[i]) / span), 0.0)
        return values[i] + (values[j] - values[i]) * w


def envelope(T: int, start: int, end: int, ramp: int) -> np.ndarray:
    """(T,) 0 outside [start, end), rising and falling smoothly over `ramp` frames."""
    t = np.arange(T)
    up = smoothstep((t - start + 1) / max(ramp, 1))
    down = smoothstep((end - t) / max(ramp, 1))
    return np.where((t >= start) & (t < end), np.minimum(up, down), 0.0)


@dataclass
class FreeSpec:
    """A foot leaving the ground on purpose over [t0, t1): how its target is built once the trunk is posed."""

    foot: int
    t0: int
    t1: int
    kind: str  # "hang" (follows the body, lands at the end), "tuck" (folded under the chest), "kick"
    amount: float = 0.0


@dataclass
class Scene:
    """Everything the actions of one clip write: tracks, additive signals, gait per frame, free feet."""

    body: Body
    species: SpeciesDef | None
    T: int
    fps: float
    rng: np.random.Generator
    channels: tuple[str, ...]
    tracks: dict[str, Track] = field(default_factory=dict)
    add: dict[str, np.ndarray] = field(default_factory=dict)
    gait: list = field(default_factory=list)  # per frame: (gait name, speed m/s) or None
    step_ok: np.ndarray | None = None
    free: list[FreeSpec] = field(default_factory=list)
    heading: float = 0.0
    posture: str = "stand"
    graze: tuple[float, float] = (0.8, 0.3)  # neck and head bends that bring the mouth to the ground
    sweep: float = 1.0  # longest stance sweep of the legs, metres (set per body)

    def __post_init__(self):
        names = (*self.channels, "v_fwd", "v_side", "yaw", "dh", "dz")
        self.tracks = {c: Track(0.0) for c in names}
        self.add = {c: np.zeros(self.T) for c in (*names, "y")}
        self.gait = [None] * self.T
        self.step_ok = np.ones(self.T, dtype=bool)

    @property
    def blend(self) -> int:
        """Frames over which one action hands over to the next (a few tenths of a second)."""
        return int(round(0.35 * self.fps))

    def hold(self, start: int, end: int, blend: int | None = None, **values: float) -> None:
        for name, v in values.items():
            self.tracks[name].hold(start, end, v, self.blend if blend is None else blend)

    def keys(self, name: str, frames_values) -> None:
        for f, v in frames_values:
            self.tracks[name].set(f, v)

    def oscillate(self, name: str, start: int, end: int, amp: float, hz: float, phase: float = 0.0,
                  ramp: int | None = None) -> None:
        t = np.arange(self.T) / self.fps
        env = envelope(self.T, start, end, self.blend if ramp is None else ramp)
        self.add[name] += amp * env * np.sin(2 * np.pi * hz * (t - start / self.fps) + phase)

    def set_gait(self, start: int, end: int, gait: str, speed: float) -> None:
        for t in range(max(start, 0), min(end, self.T)):
            self.gait[t] = (gait, speed)

    def freeze_feet(self, start: int, end: int) -> None:
        self.step_ok[max(start, 0):min(end, self.T)] = False

    def allow_steps(self, start: int, end: int, gait: str, speed: float) -> None:
        """Let the feet step again over [start, end), e.g. to run out a landing."""
        self.step_ok[max(start, 0):min(end, self.T)] = True
        self.set_gait(start, end, gait, speed)

    def render(self) -> dict[str, np.ndarray]:
        return {k: tr.render(self.T) + self.add[k] for k, tr in self.tracks.items()} | {"y": self.add["y"]}
