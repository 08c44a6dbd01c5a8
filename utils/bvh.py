"""BVH export and import: joint positions <-> Biovision Hierarchy files for Blender, Maya, MotionBuilder ...

`write_bvh` turns (T, J, 3) positions into local rotations by IK on a `SkeletonSpec` (with the clip's own bone
lengths) and writes them as ZXY Euler angles that stay continuous over time. `read_bvh` parses any BVH (any channel
order, position channels on any joint) into rotations, offsets and root positions; `bvh_to_joints` gives positions.

Conventions, shared with Blender's importer and MoMask's exporter: lengths in the file are metres * scale
(centimetres by default); a joint's position channels give its position in its parent's frame (for the root, the
world position) in place of its OFFSET; the ROOT OFFSET is the rest position. Joints are written depth first, so
the file's joint order can differ from the spec's; `bvh_to_joints(path, spec)` puts them back in the spec's order.
"""
from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from utils.io import atomic_write_text
from utils.kinematics import forward_kinematics, inverse_kinematics
from utils.skeleton import SkeletonSpec, get_skeleton

ROTATION_ORDER = "ZXY"  # the channel order we write; intrinsic: R = Rz(a) @ Rx(b) @ Ry(c)
DECIMALS = 6  # 1e-6 cm and 1e-6 degrees: the round trip stays exact to far below a millimetre
END_SITE_FRACTION = 0.25  # a leaf's End Site continues its bone by this fraction of the bone's length ...
END_SITE_MIN = 0.01  # ... and at least 1 cm, so Blender draws a visible bone
_GIMBAL_COS = 1e-6  # |cos b| below this is gimbal lock (scipy's own test is at about 1e-7)
_TAU = 2.0 * np.pi
_CHANNEL = re.compile(r"([xyz])(position|rotation)", re.IGNORECASE)


@dataclass
class BVHMotion:
    """A parsed BVH clip in metres, its joints in the file's (depth-first) order; End Sites are not joints."""

    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    offsets: np.ndarray  # (J, 3) OFFSETs; row 0 is the root's rest position
    fps: float
    rotations: np.ndarray  # (T, J, 3, 3) local rotations
    root_positions: np.ndarray  # (T, 3)
    translations: np.ndarray | None = None  # (T, J, 3) local positions, when non-root joints have position channels

    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]

    def skeleton(self, name: str = "bvh") -> SkeletonSpec:
        """The file's hierarchy and rest offsets as a spec (no feet or facing joints: it knows only the file)."""
        return SkeletonSpec(name=name, joint_names=self.joint_names, parents=self.parents, offsets=self.offsets,
                            fps=self.fps)

    @property
    def joints(self) -> np.ndarray:
        """(T, J, 3) joint positions in metres by forward kinematics."""
        if self.translations is None:
            return forward_kinematics(self.skeleton(), self.rotations, self.root_positions, self.offsets)
        T, J = self.rotations.shape[:2]
        glob = np.empty((T, J, 3, 3))
        pos = np.empty((T, J, 3))
        for j, p in enumerate(self.parents):
            if p < 0:
                glob[:, j], pos[:, j] = self.rotations[:, j], self.translations[:, j]
                continue
            pos[:, j] = pos[:, p] + np.einsum("tik,tk->ti", glob[:, p], self.translations[:, j])
            glob[:, j] = glob[:, p] @ self.rotations[:, j]
        return pos


# ---- writing ------------------------------------------------------------------------------------------------
def continuous_euler(rot: np.ndarray) -> np.ndarray:
    """(T, J, 3, 3) local rotations -> (T, J, 3) intrinsic ZXY angles in radians, continuous over time.

    Every rotation has two ZXY triples, (a, b, c) and (a + pi, pi - b, c + pi), each also up to multiples of 2 pi.
    Frame 0 takes scipy's; every later frame the candidate nearest the previous frame's, so a body that turns round
    and round gets a yaw that keeps growing instead of wrapping at 180 degrees or flipping to the twin triple.
    """
    T, J = rot.shape[:2]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Gimbal lock")  # handled below
        e = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_euler(ROTATION_ORDER).reshape(T, J, 3)
    twin = np.stack([e[..., 0] + np.pi, np.pi - e[..., 1], e[..., 2] + np.pi], axis=-1)
    locked = np.abs(np.cos(e[..., 1])) < _GIMBAL_COS  # (T, J)
    sigma = np.sign(np.sin(e[..., 1]))  # at b = +90 degrees only a + c is fixed, at b = -90 only a - c
    out = np.empty_like(e)
    out[0] = e[0]
    for t in range(1, T):
        prev = out[t - 1]  # (J, 3)
        cands = np.stack([e[t], twin[t]])  # (2, J, 3)
        cands = cands + _TAU * np.round((prev - cands) / _TAU)
        dist = ((cands - prev) ** 2).sum(-1)  # (2, J)
        out[t] = np.where((dist[1] < dist[0])[:, None], cands[1], cands[0])
        lk = locked[t]
        if lk.any():  # split the fixed a +- c so that a and c each move least
            s = sigma[t, lk]
            d = e[t, lk, 0] + s * e[t, lk, 2] - (prev[lk, 0] + s * prev[lk, 2])
            d = (d + np.pi) % _TAU - np.pi
            out[t, lk, 0] = prev[lk, 0] + d / 2
            out[t, lk, 2] = prev[lk, 2] + s * d / 2
    return out


def _end_site(bone: np.ndarray) -> np.ndarray:
    """(3,) a leaf's bone from its parent (metres) -> its End Site offset, continuing the bone."""
    length = float(np.linalg.norm(bone))
    if length < 1e-9:
        return np.array([0.0, END_SITE_MIN, 0.0])
    return bone / length * max(END_SITE_FRACTION * length, END_SITE_MIN)


def _fmt(v: np.ndarray) -> str:
    return " ".join(f"{x:.{DECIMALS}f}" for x in np.round(v, DECIMALS) + 0.0)  # + 0.0 turns -0.0 into 0.0


def _hierarchy(spec: SkeletonSpec, offsets: np.ndarray, scale: float) -> tuple[list[str], list[int]]:
    """The HIERARCHY lines and the joints in the order they are written (depth first)."""
    rot = " ".join(f"{axis}rotation" for axis in ROTATION_ORDER)
    lines, order = ["HIERARCHY"], []

    def visit(j: int, depth: int) -> None:
        pad = "\t" * depth
        order.append(j)
        channels = f"CHANNELS 6 Xposition Yposition Zposition {rot}" if j == 0 else f"CHANNELS 3 {rot}"
        lines.extend([f"{pad}{'ROOT' if j == 0 else 'JOINT'} {spec.joint_names[j]}", f"{pad}{{",
                      f"{pad}\tOFFSET {_fmt(offsets[j] * scale)}", f"{pad}\t{channels}"])
        kids = spec.children(j)
        for c in kids:
            visit(c, depth + 1)
        if not kids:
            tip = _end_site(offsets[j] if j > 0 else np.zeros(3)) * scale
            lines.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {_fmt(tip)}", f"{pad}\t}}"])
        lines.append(f"{pad}}}")

    visit(0, 0)
    return lines, order


def write_bvh(path: str | Path, joints: np.ndarray, spec: SkeletonSpec, fps: float | None = None,
              scale: float = 100.0) -> Path:
    """(T, J, 3) joint positions in metres -> a BVH file at `path` (written atomically); returns the path.

    Rotations come from `inverse_kinematics` with the clip's own bone lengths, so FK of the file gives back the
    positions of a rigid body. Decoded or generated positions whose bone lengths vary over time get the rigid fit
    that aims each bone from its fitted parent (`track=True`): the file is exact to itself (read_bvh gives back what
    was written) and as close to the input as a rigid skeleton can be. The OFFSETs are those bones (the ROOT's is
    the median root height over the origin) and all-zero rotations give the spec's rest pose shape. scale is file
    units per metre (100: centimetres, what Blender and most tools expect); fps defaults to spec.fps.
    """
    path = Path(path)
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3) or len(joints) == 0:
        raise ValueError(f"{path}: expected joints of shape (T, {spec.num_joints}, 3) for skeleton {spec.name!r}, "
                         f"got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError(f"{path}: the joints hold NaN or inf values")
    fps = spec.fps if fps is None else float(fps)
    if not fps > 0 or not scale > 0:
        raise ValueError(f"{path}: fps and scale must be positive, got fps={fps} and scale={scale}")
    bad = [n for n in spec.joint_names if len(n.split()) != 1 or n != n.strip()]
    if bad:
        raise ValueError(f"{path}: BVH joint names cannot be empty or hold spaces: {bad}")

    local, offsets = inverse_kinematics(spec, joints, track=True)  # (T, J, 3, 3), (J, 3)
    offsets[0, [0, 2]] = 0.0  # the rest armature stands over the origin; the root's channels are its world position
    euler = np.degrees(continuous_euler(local))  # (T, J, 3)
    lines, order = _hierarchy(spec, offsets, scale)
    T = len(joints)
    frames = np.concatenate([joints[:, 0] * scale, euler[:, order].reshape(T, -1)], axis=1)  # (T, 3 + 3J)
    lines += ["MOTION", f"Frames: {T}", f"Frame Time: {1.0 / fps!r}"]
    buf = io.StringIO()
    np.savetxt(buf, np.round(frames, DECIMALS) + 0.0, fmt=f"%.{DECIMALS}f")
    atomic_write_text(path, "\n".join(lines) + "\n" + buf.getvalue())
    return path


# ---- reading ------------------------------------------------------------------------------------------------
@dataclass
class _Joint:
    name: str
    parent: int
    line: int
    offset: list[float] | None = None
    channels: list[tuple[str, str]] | None = None  # (axis "X", kind "position" | "rotation") in file order


class _Words:
    """The hierarchy's whitespace-separated words with their line numbers, for error messages."""

    def __init__(self, path: Path, lines: list[str]):
        self.path = path
        self.items = [(n, w) for n, line in enumerate(lines, 1) for w in line.split()]
        self.i = 0
        self.last_line = len(lines)

    def error(self, line: int, message: str) -> ValueError:
        return ValueError(f"{self.path}, line {line}: {message}")

    def more(self) -> bool:
        return self.i < len(self.items)

    def next(self, expected: str) -> tuple[int, str]:
        if not self.more():
            raise self.error(self.last_line, f"the HIERARCHY ends where {expected} was expected")
        self.i += 1
        return self.items[self.i - 1]

    def expect(self, word: str) -> int:
        line, w = self.next(repr(word))
        if w.upper() != word.upper():
            raise self.error(line, f"expected {word!r}, found {w!r}")
        return line

    def number(self, what: str) -> float:
        line, w = self.next(what)
        try:
            return float(w)
        except ValueError:
            raise self.error(line, f"expected {what}, found {w!r}") from None


def _parse_joint(words: _Words, joints: list[_Joint], parent: int) -> None:
    """Parse one ROOT / JOINT block (its keyword already read) and, recursively, its children."""
    line, name = words.next("a joint name")
    j = len(joints)
    joint = _Joint(name, parent, line)
    joints.append(joint)
    words.expect("{")
    while True:
        line, w = words.next(f"OFFSET, CHANNELS, JOINT, End Site or '}}' in joint {name!r}")
        key = w.upper()
        if key == "OFFSET":
            joint.offset = [words.number(f"a number in the OFFSET of joint {name!r}") for _ in range(3)]
        elif key == "CHANNELS":
            if joint.channels is not None:
                raise words.error(line, f"joint {name!r} has a second CHANNELS line")
            count = words.number(f"the channel count of joint {name!r}")
            if count != int(count) or not 0 <= count <= 6:
                raise words.error(line, f"joint {name!r} has a channel count of {count}; expected 0 to 6")
            joint.channels = []
            for _ in range(int(count)):
                cline, c = words.next(f"a channel name of joint {name!r}")
                m = _CHANNEL.fullmatch(c)
                if m is None:
                    raise words.error(cline, f"unknown channel {c!r} of joint {name!r}; channels are Xposition, "
                                             f"Yposition, Zposition, Xrotation, Yrotation and Zrotation")
                if (m[1].upper(), m[2].lower()) in joint.channels:
                    raise words.error(cline, f"joint {name!r} has channel {c!r} twice")
                joint.channels.append((m[1].upper(), m[2].lower()))
        elif key == "JOINT":
            _parse_joint(words, joints, j)
        elif key == "END":
            words.expect("Site")
            words.expect("{")
            words.expect("OFFSET")
            for _ in range(3):
                words.number(f"a number in an End Site OFFSET of joint {name!r}")
            words.expect("}")
        elif w == "}":
            break
        else:
            raise words.error(line, f"unexpected {w!r} in joint {name!r}; expected OFFSET, CHANNELS, JOINT, "
                                    f"End Site or '}}'")
    if joint.offset is None:
        raise words.error(joint.line, f"joint {name!r} has no OFFSET")
    joint.channels = joint.channels or []


def _parse_frames(path: Path, lines: list[str], first: int, num_channels: int) -> tuple[int, float, np.ndarray]:
    """The MOTION section (lines[first:] after the MOTION line) -> (frames, frame time, (T, C) values)."""
    body = [(n, ln.split()) for n, ln in enumerate(lines[first:], first + 1) if ln.strip()]

    def header(k: int, label: tuple[str, ...], kind):
        if k >= len(body):
            raise ValueError(f"{path}: the MOTION section has no '{' '.join(label)}' line")
        n, words = body[k]
        if len(words) != len(label) + 1 or tuple(w.lower() for w in words[:-1]) != tuple(w.lower() for w in label):
            raise ValueError(f"{path}, line {n}: expected '{' '.join(label)} <number>', found {' '.join(words)!r}")
        try:
            return kind(words[-1])
        except ValueError:
            raise ValueError(f"{path}, line {n}: {words[-1]!r} is not a valid {' '.join(label)} value") from None

    frames = header(0, ("Frames:",), int)
    frame_time = header(1, ("Frame", "Time:"), float)
    if frames < 0 or not frame_time > 0:
        raise ValueError(f"{path}: Frames must be >= 0 and Frame Time > 0, got {frames} and {frame_time}")
    data = body[2:]
    if len(data) != frames:
        raise ValueError(f"{path}: the file declares {frames} frames (Frames: line) but holds {len(data)} frame lines")
    values = np.empty((frames, num_channels))
    for t, (n, words) in enumerate(data):
        if len(words) != num_channels:
            raise ValueError(f"{path}, line {n}: frame {t} has {len(words)} values but the HIERARCHY declares "
                             f"{num_channels} channels")
        try:
            values[t] = [float(w) for w in words]
        except ValueError:
            raise ValueError(f"{path}, line {n}: frame {t} holds a value that is not a number") from None
    if not np.isfinite(values).all():
        raise ValueError(f"{path}: the frames hold NaN or inf values")
    return frames, frame_time, values


def read_bvh(path: str | Path, scale: float = 100.0) -> BVHMotion:
    """Parse a BVH file; lengths are divided by `scale` (file units per metre, 100 for centimetres).

    Any channel order per joint, with or without position channels, and End Sites (which are not joints).
    Malformed files raise a ValueError naming the file, the line and the problem.
    """
    path = Path(path)
    if not scale > 0:
        raise ValueError(f"{path}: scale must be positive, got {scale}")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a text file, so not a BVH file") from None
    motion_at = next((n for n, ln in enumerate(lines) if ln.strip().upper() == "MOTION"), None)
    if motion_at is None:
        raise ValueError(f"{path}: no MOTION section; a BVH file is HIERARCHY (the joints), then MOTION, "
                         f"'Frames: N', 'Frame Time: seconds' and one line of channel values per frame")

    # ---- hierarchy
    words = _Words(path, lines[:motion_at])
    words.expect("HIERARCHY")
    words.expect("ROOT")
    parsed: list[_Joint] = []
    _parse_joint(words, parsed, -1)
    if words.more():
        line, w = words.next("")
        raise words.error(line, f"unexpected {w!r} after the root joint's closing brace (one ROOT is supported)")

    # ---- frames: each joint's columns, in file order
    columns, c = [], 0
    for joint in parsed:
        columns.append(range(c, c + len(joint.channels)))
        c += len(joint.channels)
    T, frame_time, values = _parse_frames(path, lines, motion_at + 1, c)

    J = len(parsed)
    offsets = np.array([joint.offset for joint in parsed]) / scale  # (J, 3)
    translations = np.broadcast_to(offsets, (T, J, 3)).copy()
    rotations = np.broadcast_to(np.eye(3), (T, J, 3, 3)).copy()
    for j, (joint, cols) in enumerate(zip(parsed, columns)):
        rot_axes, rot_cols = "", []
        for (axis, kind), col in zip(joint.channels, cols):
            if kind == "position":
                translations[:, j, "XYZ".index(axis)] = values[:, col] / scale
            else:
                rot_axes += axis
                rot_cols.append(col)
        if rot_axes and T:
            try:  # uppercase: intrinsic, R = R1 @ R2 @ R3 in the order the channels are listed
                rotations[:, j] = Rotation.from_euler(rot_axes, values[:, rot_cols], degrees=True).as_matrix()
            except ValueError as e:
                raise words.error(joint.line, f"joint {joint.name!r} has rotation channels {rot_axes} ({e})") from None
    has_positions = [any(kind == "position" for _, kind in joint.channels) for joint in parsed]
    return BVHMotion(
        joint_names=tuple(joint.name for joint in parsed), parents=tuple(joint.parent for joint in parsed),
        offsets=offsets, fps=1.0 / frame_time, rotations=rotations, root_positions=translations[:, 0].copy(),
        translations=translations if any(has_positions[1:]) else None,
    )


def bvh_to_joints(path: str | Path, spec: SkeletonSpec | str | None = None, scale: float = 100.0) -> np.ndarray:
    """A BVH file -> (T, J, 3) joint positions in metres, in the file's order, or in the spec's when one is given.

    With a spec, every spec joint must be in the file under the same name; the file's other joints are dropped.
    """
    motion = read_bvh(path, scale)
    joints = motion.joints
    if spec is None:
        return joints
    spec = get_skeleton(spec)
    names = list(motion.joint_names)
    missing = [n for n in spec.joint_names if n not in names]
    if missing:
        raise ValueError(f"{path} lacks joints {missing} of skeleton {spec.name!r}; the file's joints are {names}")
    repeated = [n for n in spec.joint_names if names.count(n) > 1]
    if repeated:
        raise ValueError(f"{path} has more than one joint named {repeated}, so it cannot be matched to {spec.name!r}")
    return joints[:, [names.index(n) for n in spec.joint_names]]
