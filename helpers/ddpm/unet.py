"""The noise predictor: a compact U-Net for grey (1 channel) or RGB (3) images, 32-256 px.

    x_t (B,C,H,W) --conv--> [ResBlock x n_res (+attention)] --down--> ... --> middle
                                 | skip connections |                       |
    eps (B,C,H,W) <--conv-- [ResBlock x n_res (+attention)] <--up--- ... <--+

Every ResBlock also receives an embedding of the timestep t (sinusoidal, as positions in a
transformer) plus an embedding of the class label. Label `n_classes` is the "null" class:
training drops the label to it now and then, so the same network also learns the
unconditional prediction that classifier-free guidance needs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps: (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


def norm(ch: int) -> nn.GroupNorm:
    """GroupNorm with up to 32 groups of at least 4 channels (works for any width)."""
    groups = max([g for g in range(1, 33) if ch % g == 0 and ch // g >= 4] or [1])
    return nn.GroupNorm(groups, ch)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, with the (time + class) embedding added in between."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1, self.conv1 = norm(in_ch), nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb = nn.Linear(emb_dim, out_ch)
        self.norm2, self.conv2 = norm(out_ch), nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity: stable early training
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.emb(F.silu(emb))[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over all pixels: lets distant regions agree (used only at
    the lowest resolutions, where the number of pixels is small)."""

    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.heads = heads if ch % heads == 0 else 1
        self.norm, self.qkv, self.out = norm(ch), nn.Conv2d(ch, 3 * ch, 1), nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, emb=None):
        B, C, H, W = x.shape
        # q, k, v as (B, heads, pixels, C / heads), each contiguous: attention kernels want it
        qkv = self.qkv(self.norm(x)).reshape(B, 3, self.heads, C // self.heads, H * W)
        q, k, v = qkv.permute(1, 0, 2, 4, 3).contiguous().unbind(0)
        h = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(h.transpose(-1, -2).reshape(B, C, H, W))


class Downsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x, emb=None):
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x, emb=None):
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class UNet(nn.Module):
    """eps_theta(x_t, t, y).

    base: channels at full resolution; mults: one entry per resolution level (each level
    after the first halves the image); n_res: ResBlocks per level; attn_levels: the levels
    (0 = full resolution) that get self-attention, default the lowest one; n_classes: real
    classes (label `n_classes` means "no label").
    """

    def __init__(self, size: int = 64, in_ch: int = 1, base: int = 32, mults=(1, 2, 2, 2), n_res: int = 1,
                 attn_levels=None, n_classes: int = 3, dropout: float = 0.0, heads: int = 4):
        super().__init__()
        if size % 2 ** (len(mults) - 1):
            raise ValueError(f"image size {size} must be divisible by 2^{len(mults) - 1} for mults={mults}")
        attn_levels = {len(mults) - 1} if attn_levels is None else set(attn_levels)
        self.n_classes, self.base, self.in_ch = n_classes, base, in_ch
        emb = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.class_emb = nn.Embedding(n_classes + 1, emb)  # the last row is the null class
        self.stem = nn.Conv2d(in_ch, base, 3, padding=1)

        self.down = nn.ModuleList()
        chans, ch = [base], base
        for level, m in enumerate(mults):
            for _ in range(n_res):
                blocks = [ResBlock(ch, base * m, emb, dropout)]
                ch = base * m
                if level in attn_levels:
                    blocks.append(SelfAttention(ch, heads))
                self.down.append(nn.ModuleList(blocks))
                chans.append(ch)
            if level < len(mults) - 1:
                self.down.append(nn.ModuleList([Downsample(ch)]))
                chans.append(ch)

        self.middle = nn.ModuleList([ResBlock(ch, ch, emb, dropout), SelfAttention(ch, heads),
                                     ResBlock(ch, ch, emb, dropout)])

        self.up = nn.ModuleList()
        for level, m in reversed(list(enumerate(mults))):
            for _ in range(n_res + 1):
                blocks = [ResBlock(ch + chans.pop(), base * m, emb, dropout)]
                ch = base * m
                if level in attn_levels:
                    blocks.append(SelfAttention(ch, heads))
                self.up.append(nn.ModuleList(blocks))
            if level > 0:
                self.up.append(nn.ModuleList([Upsample(ch)]))

        self.head = nn.Sequential(norm(ch), nn.SiLU(), nn.Conv2d(ch, in_ch, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    @property
    def null_class(self) -> int:
        return self.n_classes

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.base)) + self.class_emb(y)
        h = self.stem(x)
        skips = [h]
        for blocks in self.down:
            for b in blocks:
                h = b(h, emb)
            skips.append(h)
        for b in self.middle:
            h = b(h, emb)
        for blocks in self.up:
            if isinstance(blocks[0], ResBlock):
                h = torch.cat([h, skips.pop()], dim=1)
            for b in blocks:
                h = b(h, emb)
        return self.head(h)


def memory_format(layout: str, device) -> torch.memory_format:
    """The U-Net's memory layout: "nchw", "channels_last", or "auto": NCHW on CUDA (GroupNorm runs
    NCHW there, so channels_last would transpose twice around every norm), channels_last elsewhere
    (the CPU's convolutions run the course's U-Net about 19 % faster with it)."""
    if layout == "auto":
        layout = "nchw" if torch.device(device).type == "cuda" else "channels_last"
    if layout not in ("nchw", "channels_last"):
        raise ValueError(f"layout must be auto, nchw or channels_last; got {layout!r}")
    return torch.channels_last if layout == "channels_last" else torch.contiguous_format


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
