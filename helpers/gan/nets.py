"""Generator / critic pairs for square grey (1 channel) or RGB (3) images of 32-512 px.

The generator is DCGAN-shaped: latent -> dense -> 4x4 feature map -> layers that double the
size (batch norm + LeakyReLU) -> 1 or 3 channels, tanh. Each doubling is a transposed convolution
(`upsample="deconv"`, as in DCGAN) or a nearest-neighbour resize followed by a 3x3 convolution
(`upsample="resize"`, Odena et al. 2016): a 4x4 stride-2 transposed convolution covers some
output pixels with more kernel taps than others, which shows as a checkerboard on flat,
speckled ultrasound texture; resizing first gives every pixel the same number of taps.

The critic mirrors the generator with strided convolutions down to 4x4 and a linear score
with no sigmoid: the Wasserstein losses want an unbounded score, and the DCGAN loss applies
the sigmoid inside BCE-with-logits.
The normalisation in the critic is a choice: batch norm for DCGAN / clipped WGAN, none (or
layer norm) for WGAN-GP, whose penalty is per sample and so must not mix samples in a batch.

The conditional pair (cWGAN-GP) adds a label embedding to the generator's input and a
projection term to the critic's score (Miyato & Koyama 2018): score = w.h + e(y).h, with
class vectors e(y) centred over the classes and started near 0 (see ClassVectors).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from helpers.errors import SettingError

SIZES = (32, 64, 128, 256, 512)  # 512: the cWGAN study's BreakHis size
NORMS = ("batch", "layer", "none")
UPSAMPLES = ("deconv", "resize")


def check_size(size: int) -> int:
    size = int(size)
    if size not in SIZES:
        raise SettingError(f"GAN image size must be one of {SIZES} px (a power of two); got {size}. "
                         "Pass --size 64 (or another of those) or change the profile.")
    return size


def _channels(size: int, width: int) -> list[int]:
    """Feature channels at 4, 8, ..., size/2 px: widest (8 x width at most) at 4x4."""
    n = int(math.log2(size)) - 2
    return [width * min(8, 2 ** (n - 1 - i)) for i in range(n)]


def _up(c_in: int, c_out: int, kind: str, bias: bool) -> list[nn.Module]:
    """Layers that double the spatial size and map c_in -> c_out channels."""
    if kind == "deconv":
        return [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=bias)]
    if kind == "resize":
        return [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, c_out, 3, 1, 1, bias=bias)]
    raise ValueError(f"Unknown upsampling {kind!r}; choose one of {UPSAMPLES}.")


def _norm(kind: str, ch: int) -> nn.Module:
    if kind == "batch":
        return nn.BatchNorm2d(ch)
    if kind == "layer":  # layer norm over (C, H, W) of each sample
        return nn.GroupNorm(1, ch)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"Unknown norm {kind!r}; choose one of {NORMS}.")


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) for convolutions and dense layers, N(1, 0.02) for norm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)) and m.affine:  # (ClassBatchNorm's has no scale)
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class ClassBatchNorm(nn.Module):
    """Batch norm whose scale and shift are learnt per class (conditional batch norm, de Vries et
    al. 2017, as in the generator of Miyato & Koyama 2018): the label then changes the features
    at every layer, not only through the few numbers appended to the noise, where a short run
    learns to ignore it."""

    def __init__(self, n_classes: int, ch: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(ch, affine=False)
        self.gain = nn.Parameter(torch.ones(n_classes, ch))
        self.shift = nn.Parameter(torch.zeros(n_classes, ch))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        gain, shift = F.embedding(labels, self.gain), F.embedding(labels, self.shift)
        return self.norm(x) * gain[:, :, None, None].to(x.dtype) + shift[:, :, None, None].to(x.dtype)


class Generator(nn.Module):
    """z (N, latent) [+ labels (N,)] -> images (N, channels, size, size) in [-1, 1]. A conditional
    generator appends a label embedding to z and, with `cond_norm`, normalises every layer
    with class-conditional batch norm (ClassBatchNorm)."""

    def __init__(self, size: int = 64, latent: int = 128, width: int = 32, n_classes: int = 0,
                 embed_dim: int = 32, upsample: str = "deconv", channels: int = 1, cond_norm: bool = False):
        super().__init__()
        self.size, self.latent, self.n_classes = check_size(size), int(latent), int(n_classes)
        self.channels = int(channels)
        ch = _channels(self.size, width)
        self.embed = nn.Embedding(n_classes, embed_dim) if n_classes else None
        z_in = latent + (embed_dim if n_classes else 0)

        def norm(c: int) -> nn.Module:
            return ClassBatchNorm(n_classes, c) if cond_norm and n_classes else nn.BatchNorm2d(c)

        self.fc = nn.Sequential(nn.Linear(z_in, ch[0] * 16, bias=False))
        self.fc_norm = nn.Sequential(norm(ch[0]), nn.LeakyReLU(0.2, inplace=True))
        layers = []
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [*_up(c_in, c_out, upsample, bias=False), norm(c_out), nn.LeakyReLU(0.2, inplace=True)]
        layers += [*_up(ch[-1], self.channels, upsample, bias=True), nn.Tanh()]
        self.up = nn.Sequential(*layers)
        self.apply(init_weights)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            if labels is None:
                raise ValueError("This generator is conditional: pass the class labels too.")
            z = torch.cat([z, self.embed(labels).to(z.dtype)], dim=1)
        h = self.fc(z).view(z.shape[0], -1, 4, 4)
        for layer in (*self.fc_norm, *self.up):
            h = layer(h, labels) if isinstance(layer, ClassBatchNorm) else layer(h)
        return h


class ClassVectors(nn.Module):
    """The projection critic's class vectors e(y), one per class, used centred: e(y) minus their
    mean over the classes, so that they sum to 0.

    Centred, the class term e(y).h cannot carry "real or not", which is the same for every
    class: that is left to w.h, and e(y).h learns only how class y differs from the others
    (its gradient is the class's real-minus-fake feature mean less the mean of those over the
    classes). The scores it can express are the same as uncentred vectors' (w absorbs the
    mean); what changes is what each part learns. They start small, like w (Miyato & Koyama's
    own code: Glorot, std ~0.03): the N(0, 1) of nn.Embedding made e(y).h a random score ~50x
    larger than w.h that Adam's steps of ~lr barely reshape in a short run. Stored as `weight`,
    like nn.Embedding's, so checkpoints are unchanged."""

    def __init__(self, n_classes: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, dim))
        nn.init.normal_(self.weight, 0.0, 0.02)

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        # a lookup as nn.Embedding's: its gradient is summed in a fixed order (indexing's is not
        # on a multi-threaded CPU, and a run would then not repeat exactly)
        return F.embedding(labels, self.weight - self.weight.mean(0, keepdim=True))


class Dropout(nn.Module):
    """nn.Dropout whose masks come from a generator of the run (`generator`, set by the
    training), so that runs side by side in threads never draw from one shared stream and a
    resumed run draws the same masks; torch's global generator while none is set. No
    parameters: checkpoints are those of nn.Dropout."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.p:
            return x
        if self.generator is None:
            return F.dropout(x, self.p, True)
        keep = torch.rand(x.shape, generator=self.generator, device=x.device, dtype=x.dtype) >= self.p
        return x * keep / (1 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Critic(nn.Module):
    """images (N, channels, size, size) [+ labels] -> one unbounded score per image (N,).

    With `n_classes` > 0 the score gains a projection term e(label) . features (ClassVectors)."""

    def __init__(self, size: int = 64, width: int = 32, norm: str = "none", dropout: float = 0.0,
                 n_classes: int = 0, channels: int = 1):
        super().__init__()
        self.size, self.n_classes, self.channels = check_size(size), int(n_classes), int(channels)
        ch = _channels(self.size, width)[::-1]  # widths at size/2, ..., 4 px
        layers = [nn.Conv2d(self.channels, ch[0], 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        if dropout:
            layers.append(Dropout(dropout))
        for c_in, c_out in zip(ch[:-1], ch[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none"), _norm(norm, c_out),
                       nn.LeakyReLU(0.2, inplace=True)]
            if dropout:
                layers.append(Dropout(dropout))
        self.features = nn.Sequential(*layers)
        n_feat = ch[-1] * 16
        self.score = nn.Linear(n_feat, 1)
        self.embed = ClassVectors(n_classes, n_feat) if n_classes else None
        self.apply(init_weights)

    def draw_dropout_from(self, generator: torch.Generator | None) -> None:
        """Dropout masks from `generator` (on the critic's device) instead of torch's global one."""
        for m in self.modules():
            if isinstance(m, Dropout):
                m.generator = generator

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        h = self.features(x).flatten(1)
        out = self.score(h).squeeze(1)
        if self.embed is not None:
            if labels is None:
                raise ValueError("This critic is conditional: pass the class labels too.")
            out = out + (self.embed(labels).to(h.dtype) * h).sum(1)
        return out


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
