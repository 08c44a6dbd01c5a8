"""The motion tokenizer: a species/gender-conditioned residual-VQ autoencoder (MoMask's RVQ-VAE with AniMo's
per-joint spatial encoder and FiLM conditioning, here in the encoder AND the decoder).

features (B, T, D) -> per-joint tokens (B, T, J, d) -> spatial transformer limited to kinematic chains
-> (B, J*d, T) -> Conv1d/ResNet1D encoder, T/4 -> ResidualVQ (Q layers) -> Conv1d decoder -> (B, T, D).
The condition is a text-encoder embedding of "{species} {gender}", so unseen species names still work.

With `body_condition`, the clip's bone lengths are a second condition: the encoder measures them from its input and
both halves are FiLM-conditioned on them, so the codes carry motion and not the individual's proportions (the zoo's
animals vary +-7% in size and +-5% per body part within a species). Decoding takes the bone lengths when they are
known (reconstruction, editing) and otherwise falls back to the species' typical body: during training the body is
hidden from a share of the clips (`body_dropout`), as at text-to-motion generation.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from vector_quantize_pytorch import ResidualVQ

from models.checkpoint import Checkpointable
from models.layers import FiLM, ResNet1D, TransformerBlock, downsample_mask, masked
from utils.features import body_frame_joints
from utils.skeleton import SkeletonSpec, get_skeleton, skeleton_ref

KIND = "rvqvae"


@dataclass
class RVQVAEConfig:
    skeleton: str | dict = "animo30"  # a built-in name or a full spec dict
    joint_dim: int = 128  # width of each joint token; J * joint_dim channels enter the conv encoder
    spatial_layers: int = 2
    spatial_heads: int = 4
    width: int = 512
    code_dim: int = 512
    down_t: int = 2  # 2**down_t frames per token
    depth: int = 3
    dilation_growth: int = 3
    num_quantizers: int = 6
    codebook_size: int = 512
    quantize_dropout_prob: float = 0.2  # MoMask: with this probability drop all layers after a random one
    ema_decay: float = 0.99
    commitment_weight: float = 0.02
    dead_code_threshold: float = 2.0  # EMA cluster size below which a code is reset to a batch vector
    text_encoder: str = "minilm"  # the condition source; its embedding width is cond_dim
    cond_dim: int = 384
    body_condition: bool = False  # also condition on the clip's bone lengths (False in checkpoints from before)
    body_dropout: float = 0.2  # share of training clips whose body is hidden (the unknown-body case)

    @property
    def spec(self) -> SkeletonSpec:
        return SkeletonSpec.from_dict(self.skeleton) if isinstance(self.skeleton, dict) else get_skeleton(self.skeleton)

    @property
    def frames_per_token(self) -> int:
        return 2 ** self.down_t


# Named configurations; `skeleton`, `text_encoder` and `cond_dim` are set when one is created.
VQ_CONFIGS: dict[str, RVQVAEConfig] = {
    # sized so the zoo tokenizer trains on 2 CPU cores within an hour
    "cpu": RVQVAEConfig(joint_dim=24, spatial_layers=1, spatial_heads=2, width=256, code_dim=256, depth=2,
                        codebook_size=512, body_condition=True),
    # MoMask / AniMo size: J x 128 joint tokens, width 512, 6 x 512 codes of 512 dims
    "momask": RVQVAEConfig(body_condition=True),
    # for tests
    "tiny": RVQVAEConfig(joint_dim=8, spatial_layers=1, spatial_heads=2, width=32, code_dim=16, depth=1,
                         num_quantizers=3, codebook_size=32, body_condition=True),
}


def create_rvqvae(name: str, skeleton: str | SkeletonSpec = "animo30", text_encoder: str = "minilm",
                  cond_dim: int = 384, **overrides) -> "RVQVAE":
    if name not in VQ_CONFIGS:
        raise ValueError(f"unknown tokenizer config {name!r}; registered: {sorted(VQ_CONFIGS)}")
    sk = skeleton_ref(skeleton) if isinstance(skeleton, SkeletonSpec) else skeleton
    return RVQVAE(replace(VQ_CONFIGS[name], skeleton=sk, text_encoder=text_encoder, cond_dim=cond_dim, **overrides))


def chain_attention_mask(spec: SkeletonSpec) -> torch.Tensor:
    """(J, J) bool: joints attend to joints that share a kinematic chain with them (and themselves)."""
    allowed = torch.eye(spec.num_joints, dtype=torch.bool)
    for chain in spec.chains:
        idx = torch.tensor(chain)
        allowed[idx[:, None], idx[None, :]] = True
    return allowed


class JointEmbedding(nn.Module):
    """Each joint's own slice of the features -> a d-dim token, with its own weights and a joint embedding.

    Root: the 4 root features + its velocity; other joints: position 3 + rotation 6 + velocity 3; each foot
    joint also gets its contact label.
    """

    def __init__(self, spec: SkeletonSpec, dim: int):
        super().__init__()
        rows = []
        contacts = spec.slices.contacts
        for j in range(spec.num_joints):
            idx = spec.joint_feature_index(j).tolist()
            if j in spec.foot_joints:
                idx.append(contacts.start + spec.foot_joints.index(j))
            rows.append(idx)
        width = max(len(r) for r in rows)
        pad = spec.feature_dim  # points at an appended zero column
        self.register_buffer("index", torch.tensor([r + [pad] * (width - len(r)) for r in rows]), persistent=False)
        self.weight = nn.Parameter(torch.randn(spec.num_joints, width, dim) / width ** 0.5)
        self.bias = nn.Parameter(torch.zeros(spec.num_joints, dim))
        self.joint = nn.Parameter(torch.randn(spec.num_joints, dim) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> (B, T, J, d)."""
        x = F.pad(x, (0, 1))
        parts = x[..., self.index]  # (B, T, J, P)
        return torch.einsum("btjp,jpd->btjd", parts, self.weight) + self.bias + self.joint


class Encoder(nn.Module):
    def __init__(self, cfg: RVQVAEConfig, spec: SkeletonSpec):
        super().__init__()
        self.embed = JointEmbedding(spec, cfg.joint_dim)
        self.spatial = nn.ModuleList(TransformerBlock(cfg.joint_dim, cfg.spatial_heads, mlp_ratio=2.0)
                                     for _ in range(cfg.spatial_layers))
        self.register_buffer("chain_mask", chain_attention_mask(spec), persistent=False)
        self.conv_in = nn.Conv1d(spec.num_joints * cfg.joint_dim, cfg.width, 3, padding=1)
        self.down = nn.ModuleList(nn.Conv1d(cfg.width, cfg.width, 4, stride=2, padding=1) for _ in range(cfg.down_t))
        self.res = nn.ModuleList(ResNet1D(cfg.width, cfg.depth, cfg.dilation_growth) for _ in range(cfg.down_t))
        self.film = nn.ModuleList(FiLM(cfg.cond_dim, cfg.width) for _ in range(cfg.down_t))
        self.conv_out = nn.Conv1d(cfg.width, cfg.code_dim, 3, padding=1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """x (B, T, D), cond (B, E), mask (B, T) -> (B, code_dim, T / 2**down_t)."""
        B = x.shape[0]
        h = rearrange(self.embed(x), "b t j d -> (b t) j d")
        for block in self.spatial:
            h = block(h, self.chain_mask)
        h = rearrange(h, "(b t) j d -> b (j d) t", b=B)
        h = masked(F.relu(self.conv_in(masked(h, mask))), mask)
        for down, res, film in zip(self.down, self.res, self.film):
            mask = downsample_mask(mask, 2)
            h = masked(down(h), mask)
            h = masked(film(res(h, mask), cond), mask)
        return masked(self.conv_out(h), mask)


class Decoder(nn.Module):
    def __init__(self, cfg: RVQVAEConfig, spec: SkeletonSpec):
        super().__init__()
        self.conv_in = nn.Conv1d(cfg.code_dim, cfg.width, 3, padding=1)
        self.res = nn.ModuleList(ResNet1D(cfg.width, cfg.depth, cfg.dilation_growth, reverse=True)
                                 for _ in range(cfg.down_t))
        self.up = nn.ModuleList(nn.Conv1d(cfg.width, cfg.width, 3, padding=1) for _ in range(cfg.down_t))
        self.film = nn.ModuleList(FiLM(cfg.cond_dim, cfg.width) for _ in range(cfg.down_t))
        self.conv_mid = nn.Conv1d(cfg.width, cfg.width, 3, padding=1)
        self.conv_out = nn.Conv1d(cfg.width, spec.feature_dim, 3, padding=1)

    def forward(self, z: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """z (B, code_dim, T'), cond (B, E), mask (B, T) at full rate -> (B, T, D)."""
        n = len(self.up)
        masks = [downsample_mask(mask, 2 ** (n - i)) for i in range(n + 1)]  # coarse ... fine
        h = masked(F.relu(self.conv_in(z)), masks[0])
        for i, (res, up, film) in enumerate(zip(self.res, self.up, self.film)):
            h = res(h, masks[i])
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            h = masked(film(up(masked(h, masks[i + 1])), cond), masks[i + 1])
        h = masked(F.relu(self.conv_mid(h)), masks[-1])
        # under mixed precision the output layer stays in the weights' precision: bfloat16's 8-bit mantissa would
        # round normalised features of ~2 to steps of 1/64, about 5 mm of joint position on the zoo's animals
        with torch.autocast(h.device.type, enabled=False):
            out = self.conv_out(h.to(self.conv_out.weight.dtype))
        return masked(out, masks[-1]).transpose(1, 2)


class RVQVAE(Checkpointable, nn.Module):
    checkpoint_kind, config_class = KIND, RVQVAEConfig

    def __init__(self, config: RVQVAEConfig):
        super().__init__()
        self.config = config
        self.spec = config.spec
        self.encoder = Encoder(config, self.spec)
        self.decoder = Decoder(config, self.spec)
        self.quantizer = ResidualVQ(
            dim=config.code_dim, num_quantizers=config.num_quantizers, codebook_size=config.codebook_size,
            decay=config.ema_decay, commitment_weight=config.commitment_weight,
            threshold_ema_dead_code=config.dead_code_threshold, kmeans_init=False, quantize_dropout=True,
        )
        # the training data's feature statistics travel with the weights (models see normalised features)
        self.register_buffer("mean", torch.zeros(self.spec.feature_dim))
        self.register_buffer("std", torch.ones(self.spec.feature_dim))
        self.register_buffer("train_steps", torch.zeros((), dtype=torch.long))
        if config.body_condition:
            # log bone length relative to the skeleton's rest length, and a flag: is the body known?
            self.body_proj = nn.Linear(self.spec.num_joints, config.cond_dim)
            nn.init.zeros_(self.body_proj.weight)
            nn.init.zeros_(self.body_proj.bias)
            self.register_buffer("rest_log_lengths", torch.log(torch.as_tensor(
                self.spec.bone_lengths[1:], dtype=torch.float32).clamp_min(1e-4)), persistent=False)
            self.register_buffer("parents", torch.tensor(self.spec.parents[1:]), persistent=False)

    def set_normalization(self, mean, std) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(std, dtype=torch.float32))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    @property
    def frames_per_token(self) -> int:
        return self.config.frames_per_token

    def body_frame_joints(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) normalised features -> (B, T, J, 3) joint positions in metres in the facing frame, the root
        above the origin (the trajectory left out)."""
        return body_frame_joints(self.denormalize(x), self.spec)

    @torch.no_grad()
    def body_of(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor | None:
        """(B, T, D) normalised features -> (B, J-1) log bone lengths relative to the skeleton's rest lengths,
        averaged over the valid frames (None for a tokenizer without the body condition)."""
        if not self.config.body_condition:
            return None
        joints = self.body_frame_joints(x.float())
        lengths = (joints[..., 1:, :] - joints[..., self.parents, :]).norm(dim=-1)  # (B, T, J-1)
        w = torch.ones(x.shape[:2], device=x.device) if mask is None else mask.float()
        mean = (lengths * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp_min(1)
        return mean.clamp_min(1e-4).log() - self.rest_log_lengths

    def _condition(self, cond: torch.Tensor, body: torch.Tensor | None, known: torch.Tensor | None = None
                   ) -> torch.Tensor:
        """Adds the body (B, J-1) to the text condition (B, E); `known` (B,) hides the body of some items."""
        if not self.config.body_condition:
            if body is not None:
                raise ValueError("this tokenizer was trained without the body condition; decode without `body`")
            return cond
        B = cond.shape[0]
        if body is None:
            body, known = cond.new_zeros(B, self.spec.num_joints - 1), cond.new_zeros(B)
        elif body.shape != (B, self.spec.num_joints - 1):
            raise ValueError(f"body must be ({B}, {self.spec.num_joints - 1}) log bone lengths (RVQVAE.body_of), "
                             f"got {tuple(body.shape)}")
        known = cond.new_ones(B) if known is None else known.to(cond.dtype)
        body = body.to(cond) * known[:, None]
        return cond + self.body_proj(torch.cat([body, known[:, None]], dim=-1))

    def _check(self, x: torch.Tensor, mask: torch.Tensor | None) -> None:
        D, unit = self.spec.feature_dim, self.frames_per_token
        if x.ndim != 3 or x.shape[-1] != D:
            raise ValueError(f"motion features must be (B, T, {D}) for skeleton {self.spec.name!r}, got "
                             f"{tuple(x.shape)}")
        if x.shape[1] % unit or x.shape[1] == 0:
            raise ValueError(f"the model takes lengths that are positive multiples of {unit} frames, got "
                             f"{x.shape[1]}; use models.vq.codec.MotionCodec, which pads and crops for you")
        if mask is not None and (mask.sum(1) % unit).any():
            raise ValueError(f"every masked length must be a multiple of {unit} frames")

    def forward(self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None = None) -> dict:
        """x (B, T, D) normalised features, cond (B, E), mask (B, T) -> recon (B, T, D), codes, commit loss.

        The body condition (if any) is measured from x; in training it is hidden from `body_dropout` of the items.
        """
        self._check(x, mask)
        coarse = downsample_mask(mask, self.frames_per_token)
        # MoMask's quantize dropout is applied to a random share of the steps, not to all of them. The draw comes
        # from a counter of training steps, so every process of a distributed run decides alike (the quantizer's
        # collectives must match) and a resumed run decides as the uninterrupted one did.
        dropout, known = False, None
        if self.training:
            g = torch.Generator().manual_seed(int(self.train_steps))
            dropout = bool(torch.rand((), generator=g) < self.config.quantize_dropout_prob)
            known = (torch.rand(x.shape[0], generator=g) >= self.config.body_dropout).to(x.device)
            self.train_steps += 1
        cond = self._condition(cond, self.body_of(x, mask), known)
        self.quantizer.quantize_dropout = dropout
        z = self.encoder(x, cond, mask).transpose(1, 2)  # (B, T', C)
        quantized, codes, commit = self.quantizer(z, mask=coarse)
        recon = self.decoder(quantized.transpose(1, 2), cond, mask)
        return {"recon": recon, "codes": codes, "commit_loss": commit.sum()}

    @torch.no_grad()
    def encode(self, x: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T, D) -> codes (B, T / 4, Q) int64 (padded tokens are -1)."""
        self._check(x, mask)
        was = self.training
        self.eval()
        z = self.encoder(x, self._condition(cond, self.body_of(x, mask)), mask).transpose(1, 2)
        self.quantizer.quantize_dropout = False
        _, codes, _ = self.quantizer(z)
        self.train(was)
        coarse = downsample_mask(mask, self.frames_per_token)
        return codes if coarse is None else codes.masked_fill(~coarse[..., None], -1)

    def quantized_from_codes(self, codes: torch.Tensor, num_layers: int | None = None) -> torch.Tensor:
        """(B, T', Q) codes -> (B, T', C), summing the first num_layers layers (all by default); -1 counts as 0."""
        if codes.shape[-1] != self.config.num_quantizers:
            raise ValueError(f"codes have {codes.shape[-1]} layers, this tokenizer has {self.config.num_quantizers}")
        if num_layers is not None:
            codes = codes.clone()
            codes[..., num_layers:] = -1
        return self.quantizer.get_output_from_indices(codes)

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, cond: torch.Tensor, num_layers: int | None = None,
               mask: torch.Tensor | None = None, body: torch.Tensor | None = None) -> torch.Tensor:
        """codes (B, T', Q) -> features (B, T' * 4, D); `mask` (B, T'*4) zeroes padded frames.

        `body` (B, J-1) from `body_of` on the source motion gives its proportions back; without it the decoder
        draws the typical body of the species and gender.
        """
        if codes.min() < -1 or codes.max() >= self.config.codebook_size:
            raise ValueError(f"codes must lie in [0, {self.config.codebook_size}) (or -1 for padding)")
        if mask is None and (codes < 0).any():
            mask = (codes[..., 0] >= 0).repeat_interleave(self.frames_per_token, dim=1)
        quantized = self.quantized_from_codes(codes, num_layers).transpose(1, 2)
        return self.decoder(quantized, self._condition(cond, body), mask)
