"""2D-to-3D lifting: 2D keypoints + confidence (B, T, J_in, 3) -> 3D joints (B, T, J_out, 3).

The backbone is a DSTformer (temporal context) or, as the baseline that shows what temporal context buys, a
per-frame MLP. When the output skeleton differs from the input layout (h36m17 video keypoints -> humanml22 joints
the tokenizer can encode) a learned joint map, started at the least-squares inverse of the joint regressor,
turns the per-joint outputs into the output joints.
Outputs are root-relative, in the camera frame, in the units of the normalised 2D input (see train_lifter.py).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from models.checkpoint import Checkpointable
from models.dstformer import DST_CONFIGS, DSTformer, DSTformerConfig
from utils.skeleton import HUMANML22, HUMANML22_TO_H36M17, SkeletonSpec, get_skeleton

KIND = "lifter"


@dataclass
class LifterConfig:
    input_skeleton: str | dict = "h36m17"  # the layout of the 2D keypoints
    output_skeleton: str | dict = "h36m17"
    backbone: str = "cpu"  # a DST_CONFIGS name, or "mlp" for the per-frame baseline
    window: int = 43  # frames seen at once (~2 s at 20 fps); longer inputs are lifted in overlapping windows
    mlp_hidden: int = 1024
    dst: dict = field(default_factory=dict)

    def spec(self, which: str) -> SkeletonSpec:
        s = getattr(self, f"{which}_skeleton")
        return SkeletonSpec.from_dict(s) if isinstance(s, dict) else get_skeleton(s)


class FrameMLP(nn.Module):
    """Each frame on its own: (B, T, J, 3) -> (B, T, J_out, 3)."""

    def __init__(self, j_in: int, j_out: int, hidden: int):
        super().__init__()
        self.j_out = j_out
        self.net = nn.Sequential(nn.Linear(3 * j_in, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(),
                                 nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 3 * j_out))

    def representation(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, J, 3) -> (B, T, hidden)."""
        return self.net[:-1](x.flatten(2))

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """(B, T, hidden) -> (B, T, J_out, 3)."""
        return self.net[-1](h).unflatten(-1, (self.j_out, 3))

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.representation(x))


class Lifter(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, LifterConfig

    def __init__(self, config: LifterConfig):
        super().__init__()
        self.config = config
        self.input_spec, self.output_spec = config.spec("input"), config.spec("output")
        j_in, j_out = self.input_spec.num_joints, self.output_spec.num_joints
        if config.backbone == "mlp":
            self.backbone = FrameMLP(j_in, j_out, config.mlp_hidden)
            self.joint_map = None
        else:
            base = asdict(DST_CONFIGS[config.backbone])
            self.backbone = DSTformer(DSTformerConfig(**{**base, "dim_in": 3, "dim_out": 3, "num_joints": j_in,
                                                         "maxlen": max(config.window, 1), **config.dst}))
            self.joint_map = None
            if j_out != j_in:
                self.joint_map = nn.Parameter(torch.from_numpy(self._initial_map()).float())  # (J_out, J_in)

    def _initial_map(self) -> np.ndarray:
        j_in, j_out = self.input_spec.num_joints, self.output_spec.num_joints
        if self.output_spec.same_layout(HUMANML22) and j_in == HUMANML22_TO_H36M17.shape[0]:
            return np.linalg.pinv(HUMANML22_TO_H36M17)
        return np.full((j_out, j_in), 1.0 / j_in)

    def forward(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, J_in, 3) normalised 2D + confidence -> (B, T, J_out, 3), root joint at the origin."""
        rep = self.backbone.representation(x, frame_mask)
        # under mixed precision the regression stays float32 from the representation on: bfloat16's 8-bit mantissa
        # would round poses of ~1 unit (about a metre) to steps of up to ~4 mm, a tenth of the error trained on (the
        # head runs in the input's precision)
        with torch.autocast(x.device.type, enabled=False):
            y = self.backbone.head(rep.to(x.dtype))
            if self.joint_map is not None:
                y = torch.einsum("oi,btic->btoc", self.joint_map, y)
        return y - y[..., :1, :]

    def predict(self, x: torch.Tensor, frame_mask: torch.Tensor | None = None, flip: bool = True) -> torch.Tensor:
        """x (B, T, J_in, 3) -> (B, T, J_out, 3): forward, by default averaged with the prediction for the mirrored
        input mirrored back (MotionBERT's flip test; the lifters are trained on mirrored scenes too). x is centred on
        the body, so mirroring is u -> -u with left and right keypoints swapped; the 3D output is mirrored back by
        x -> -x with left and right joints swapped. The two views run as two forwards: one of twice the batch was
        slower on CPU (bench/lift_speed.py, animals: 453 against 713 frames/s)."""
        y = self(x, frame_mask)
        if not flip:
            return y
        mirrored = self(self.input_spec.mirror(x), frame_mask)
        return (y + self.output_spec.mirror(mirrored)) / 2
