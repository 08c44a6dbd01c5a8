"""Blocks shared by several models: FiLM, masked 1D residual convolutions, a pre-norm transformer block."""
from __future__ import annotations

import copy
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel

# On CPU, attention over at most this many tokens with heads at most this wide goes through torch's math kernel:
# there the flash kernel's blocking costs more than it saves. bench/attention.py, training (forward + backward):
# 2.5x faster at 17 tokens x 16 channels, 1.5x at 43 x 16; at 64 tokens the kernels are about even, from 96 on
# flash is faster by 2x and more; at 64-channel heads they are about even at any length.
MATH_MAX_TOKENS, MATH_MAX_HEAD_DIM = 48, 32
# bfloat16 inference on CPU (generation with --bf16) skips both kernels: two batched bfloat16 matmuls and a softmax
# beat the flash kernel on short sequences (bench/attention.py --tables bf16: 1.7x at 64 x 6 heads x 52 tokens x 64
# channels, the MoMask-size masked transformer at batch 32; 1.0-1.3x at 100 tokens; at 128 and 196 tokens, and with
# fewer than 16 sequence-heads, the flash kernel is as fast or faster). The scores are rounded to bfloat16, as every
# activation of a bfloat16 model is.
BF16_MAX_TOKENS, BF16_MIN_SEQUENCE_HEADS = 100, 16


class FiLM(nn.Module):
    """Feature-wise scale and shift from a condition vector; starts as the identity."""

    def __init__(self, cond_dim: int, channels: int):
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x (B, C, T), cond (B, E)."""
        scale, shift = self.proj(cond).unsqueeze(-1).chunk(2, dim=1)  # (B, C, 1) each
        return x * (1 + scale) + shift


class ResBlock1D(nn.Module):
    """ReLU -> dilated conv -> ReLU -> 1x1 conv, plus the input; padded frames are zeroed after each conv."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        h = masked(self.conv1(F.relu(x)), mask)
        return x + masked(self.conv2(F.relu(h)), mask)


class ResNet1D(nn.Module):
    """`depth` residual blocks with dilation growth**d (MoMask: 3 blocks, growth 3); reversed in decoders."""

    def __init__(self, channels: int, depth: int, growth: int, reverse: bool = False):
        super().__init__()
        dilations = [growth ** d for d in range(depth)]
        self.blocks = nn.ModuleList(ResBlock1D(channels, d) for d in (dilations[::-1] if reverse else dilations))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, mask)
        return x


def masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Zero the padded frames of x (B, C, T) so they never leak into real ones through the next convolution."""
    return x if mask is None else x * mask[:, None, :].to(x.dtype)


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None = None,
              dropout_p: float = 0.0) -> torch.Tensor:
    """torch's scaled_dot_product_attention, q, k, v (N, h, L, c) -> (N, h, L, c), with the kernel chosen for short
    sequences of narrow heads on CPU (see MATH_MAX_TOKENS); the kernels agree to float rounding."""
    if bf16_matmul_attention(q, k, dropout_p):
        return _matmul_attention(q, k, v, attn_mask)
    if q.device.type == "cpu" and k.shape[-2] <= MATH_MAX_TOKENS and q.shape[-1] <= MATH_MAX_HEAD_DIM:
        with sdpa_kernel(SDPBackend.MATH):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout_p)


def bf16_matmul_attention(q: torch.Tensor, k: torch.Tensor, dropout_p: float = 0.0) -> bool:
    """Whether `attention` takes the bfloat16 matmul path (see BF16_MAX_TOKENS): CPU, bfloat16, no gradients."""
    return (q.device.type == "cpu" and q.dtype == torch.bfloat16 and dropout_p == 0 and not torch.is_grad_enabled()
            and k.shape[-2] <= BF16_MAX_TOKENS and q.shape[0] * q.shape[1] >= BF16_MIN_SEQUENCE_HEADS)


def _matmul_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None
                      ) -> torch.Tensor:
    """softmax(q k^T / sqrt(c) + mask) v as batched matmuls; q (N, h, L, c), k and v (N, h, S, c), attn_mask bool
    broadcastable to (N, h, L, S) -> (N, h, L, c)."""
    N, h, L, c = q.shape
    S = k.shape[-2]
    if attn_mask is None:
        bias = q.new_zeros(1, 1, 1)
    else:  # (N h, 1 or L, S): a key mask stays one row per sequence-head, broadcast over the queries
        bias = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device).masked_fill(~attn_mask, float("-inf"))
        bias = bias.expand(N, h, bias.shape[-2], S).reshape(N * h, -1, S)
    scores = torch.baddbmm(bias, q.reshape(N * h, L, c), k.reshape(N * h, S, c).transpose(1, 2),
                           alpha=c ** -0.5)  # (N h, L, S)
    probs = scores.softmax(-1)
    if attn_mask is not None:
        empty = ~attn_mask.any(-1, keepdim=True)  # queries with no key to attend to get zeros, as from torch's kernels
        if empty.any():
            probs = probs.masked_fill(empty.expand(N, h, L, 1).reshape(N * h, L, 1), 0.0)
    return torch.bmm(probs, v.reshape(N * h, S, c)).view(N, h, L, c)


def downsample_mask(mask: torch.Tensor | None, factor: int) -> torch.Tensor | None:
    """(B, T) -> (B, T / factor): a coarse frame is real if its first fine frame is."""
    return None if mask is None else mask[:, ::factor]


class TransformerBlock(nn.Module):
    """Pre-norm self-attention + MLP; attention through torch's scaled_dot_product_attention (see `attention`)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, dropout: float = 0.0, mlp_dim: int | None = None):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(dropout)
        hidden = mlp_dim or int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (N, L, C); attn_mask bool broadcastable to (N, heads, L, L), True where attention is allowed."""
        q, k, v = self.qkv(self.norm1(x)).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)  # (N, h, L, c)
        a = attention(q, k, v, attn_mask, self.dropout if self.training else 0.0)
        x = x + self.proj_drop(self.proj(a.transpose(1, 2).flatten(2)))  # (N, L, C)
        return x + self.mlp(self.norm2(x))


def int8_blocks(model: nn.Module) -> nn.Module:
    """A float32 copy of `model` whose TransformerBlocks' linear layers hold int8 weights (one scale per output
    channel) and quantize their inputs at every call: torch's dynamic quantization, int8 matrix products on x86
    CPUs (fbgemm / oneDNN). Everything else (norms, attention, embeddings, the output heads) stays float32.

    torch marks its eager quantization API deprecated in favour of torchao, whose eager int8 linear ran 2-5x slower
    than a bfloat16 one on the 2-core AVX-512 BF16 CPU we measure on (torchao 0.18); this one runs 1.5-1.8x faster
    than bfloat16 there (transformer-sized products, 52-1664 rows). So it stays, with its warnings silenced."""
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    run = copy.deepcopy(model).float().eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", message=".*quantized tensor creation.*|.*torch.quantize_per_.*")
        for block in [m for m in run.modules() if isinstance(m, TransformerBlock)]:
            quantize_dynamic(block, {nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    return run
