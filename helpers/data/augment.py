"""Traditional augmentation policies from the studies, as torchvision v2 transforms.

They act on image tensors (C, H, W) in any range and are applied to training images only.
- `busi_study`: horizontal flip, brightness, scaling, zoom (Al-Dhabyani et al.);
- `cwgan_study`: zoom, rotation 95 deg, shear 0.5 deg (Keras' shear_range is in degrees),
  width/height shift 0.4, horizontal and vertical flips (Deebani et al.);
- `mild`: a gentle default that keeps ultrasound geometry plausible (depth stays down).
"""

from __future__ import annotations

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from torchvision.transforms.v2.functional._geometry import _get_inverse_affine_matrix

from helpers.data.preprocess import IMAGENET_MEAN, IMAGENET_STD
from helpers.errors import SettingError

POLICIES = ("none", "mild", "busi_study", "cwgan_study")


def policy(name: str = "mild") -> v2.Transform:
    if name == "none":
        return v2.Identity()
    if name == "mild":
        return v2.Compose([
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=5, translate=(0.03, 0.03), scale=(0.95, 1.05)),
            v2.ColorJitter(brightness=0.1, contrast=0.1),
        ])
    if name == "busi_study":
        return v2.Compose([
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.2),
            v2.RandomAffine(degrees=0, scale=(0.9, 1.1)),  # scaling
            v2.RandomApply([v2.RandomAffine(degrees=0, scale=(1.0, 1.3))], p=0.5),  # zoom in
        ])
    if name == "cwgan_study":
        return v2.Compose([
            v2.RandomAffine(degrees=95, translate=(0.4, 0.4), scale=(0.8, 1.2), shear=0.5),
            v2.RandomHorizontalFlip(),
            v2.RandomVerticalFlip(),
        ])
    raise SettingError(f"Unknown augmentation policy {name!r}; choose one of {', '.join(POLICIES)}.")


# -- the same policies on a whole batch, on the batch's device -----------------------------
# Applied one image at a time on the CPU (above), a policy costs a few small operations per image
# in the training loop's thread. `BatchAugment` applies it to a uint8 batch (N, C, H, W) where the
# batch lives: each image gets its own random parameters, drawn for the whole batch at once on
# the CPU (torch's global generator unless one is given, so a resumed run draws what it drew)
# and applied with batched flips, one grid_sample per affine step and per-image blend factors,
# in the policy's order. `apply_one` applies the same parameters to one image through
# torchvision's functional API: the reference the batched version is tested against.


def _steps(name: str) -> list[tuple[str, object, float]]:
    """The policy's transforms in order, as (kind, transform, probability of being applied)."""
    out, todo = [], [(policy(name), 1.0)]
    while todo:
        t, p = todo.pop(0)
        if isinstance(t, v2.Compose):
            todo = [(s, p) for s in t.transforms] + todo
        elif isinstance(t, v2.RandomApply):
            todo = [(s, p * t.p) for s in t.transforms] + todo
        elif isinstance(t, (v2.RandomHorizontalFlip, v2.RandomVerticalFlip)):
            out.append(("hflip" if isinstance(t, v2.RandomHorizontalFlip) else "vflip", t, p * t.p))
        elif isinstance(t, v2.RandomAffine):
            if getattr(t.interpolation, "value", t.interpolation) != "nearest" or t.center is not None or t.fill not in (0, None):
                raise NotImplementedError(f"batched augmentation of {t}")
            out.append(("affine", t, p))
        elif isinstance(t, v2.ColorJitter):
            if t.saturation is not None or t.hue is not None:
                raise NotImplementedError(f"batched augmentation of {t}")
            out.append(("jitter", t, p))
        elif not isinstance(t, v2.Identity):
            raise NotImplementedError(f"batched augmentation of {t}")
    return out


def _uniform(n: int, lo: float, hi: float, g) -> torch.Tensor:
    return torch.rand(n, generator=g) * (hi - lo) + lo


def draw(name: str, n: int, height: int, width: int, generator: torch.Generator | None = None) -> list[dict]:
    """Per-image random parameters of policy `name` for n images, one dict per step (CPU tensors
    of length n): `on` (the step applies), and the step's own: angle, tx, ty (whole pixels),
    scale, shear_x, shear_y; brightness, contrast, brightness_first."""
    g, out = generator, []
    for kind, t, p in _steps(name):
        d = dict(on=torch.rand(n, generator=g) < p)
        if kind == "affine":
            d["angle"] = _uniform(n, *t.degrees, g)
            mx, my = (t.translate[0] * width, t.translate[1] * height) if t.translate else (0.0, 0.0)
            d["tx"], d["ty"] = _uniform(n, -mx, mx, g).round(), _uniform(n, -my, my, g).round()
            d["scale"] = _uniform(n, *t.scale, g) if t.scale else torch.ones(n)
            shear = list(t.shear or [0.0, 0.0]) + [0.0, 0.0]
            d["shear_x"], d["shear_y"] = _uniform(n, *shear[:2], g), _uniform(n, *shear[2:4], g)
        elif kind == "jitter":
            d["brightness"] = _uniform(n, *t.brightness, g) if t.brightness else torch.ones(n)
            d["contrast"] = _uniform(n, *t.contrast, g) if t.contrast else torch.ones(n)
            d["brightness_first"] = torch.rand(n, generator=g) < 0.5
        out.append(d)
    return out


def _affine_args(d: dict, i: int) -> dict:
    return dict(angle=float(d["angle"][i]), translate=[int(d["tx"][i]), int(d["ty"][i])], scale=float(d["scale"][i]),
                shear=[float(d["shear_x"][i]), float(d["shear_y"][i])])


def apply_one(name: str, img: torch.Tensor, params: list[dict], i: int) -> torch.Tensor:
    """Image i (uint8 (C, H, W)) under the parameters params[.][i], through torchvision."""
    for (kind, _, _), d in zip(_steps(name), params):
        if not d["on"][i]:
            continue
        if kind in ("hflip", "vflip"):
            img = F.horizontal_flip(img) if kind == "hflip" else F.vertical_flip(img)
        elif kind == "affine":
            img = F.affine(img, **_affine_args(d, i), interpolation=v2.InterpolationMode.NEAREST, fill=0)
        else:
            b, c = float(d["brightness"][i]), float(d["contrast"][i])
            for fn in ((_bright, _contrast) if d["brightness_first"][i] else (_contrast, _bright)):
                img = fn(img, b, c)
    return img


def _bright(img, b, c):
    return F.adjust_brightness(img, b) if b != 1 else img


def _contrast(img, b, c):
    return F.adjust_contrast(img, c) if c != 1 else img


class BatchAugment:
    """Policy `name` on uint8 batches (N, C, H, W), on their device (see the note above)."""

    def __init__(self, name: str, generator: torch.Generator | None = None):
        self.name, self.steps, self.generator = name, _steps(name), generator

    def __call__(self, x: torch.Tensor, params: list[dict] | None = None) -> torch.Tensor:
        n, _, h, w = x.shape
        params = draw(self.name, n, h, w, self.generator) if params is None else params
        for (kind, _, _), d in zip(self.steps, params):
            on = _to(d["on"], x.device).view(n, 1, 1, 1)
            if kind in ("hflip", "vflip"):
                x = torch.where(on, x.flip(-1 if kind == "hflip" else -2), x)
            elif kind == "affine":
                x = torch.where(on, self._affine(x, d), x)
            else:
                b = _to(d["brightness"], x.device).view(n, 1, 1, 1)
                c = _to(d["contrast"], x.device).view(n, 1, 1, 1)
                first = _to(d["brightness_first"], x.device).view(n, 1, 1, 1)
                bc, cb = _blend_contrast(_brighten(x, b), c), _brighten(_blend_contrast(x, c), b)
                x = torch.where(on, torch.where(first, bc, cb), x)
        return x

    @staticmethod
    def _affine(x: torch.Tensor, d: dict) -> torch.Tensor:
        """torchvision's affine_image (nearest, fill 0) with a matrix per image."""
        n, _, h, w = x.shape
        theta = torch.tensor([_get_inverse_affine_matrix([0.0, 0.0], **_affine_args(d, i)) for i in range(n)],
                             dtype=torch.float32).view(n, 2, 3)
        theta = _to(theta, x.device)
        base = torch.empty(1, h, w, 3, dtype=torch.float32, device=x.device)
        base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=x.device))
        base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=x.device).unsqueeze_(-1))
        base[..., 2].fill_(1)
        scale = torch.tensor([0.5 * w, 0.5 * h], dtype=torch.float32, device=x.device)
        grid = base.view(1, h * w, 3).expand(n, h * w, 3).bmm(theta.transpose(1, 2).div(scale))
        out = torch.nn.functional.grid_sample(x.float(), grid.view(n, h, w, 2), mode="nearest",
                                              padding_mode="zeros", align_corners=False)
        return out.round_().to(x.dtype)


def _brighten(x: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return x.mul(b).clamp_(0, 255).to(torch.uint8)  # adjust_brightness on uint8: truncated


def _blend_contrast(x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    grey = x.float() if x.shape[1] == 1 else F.rgb_to_grayscale(x.float()).floor_()
    mean = grey.mean(dim=(-3, -2, -1), keepdim=True)
    return x.mul(c).add_(mean * (1.0 - c)).clamp_(0, 255).to(torch.uint8)


def _to(t: torch.Tensor, device) -> torch.Tensor:
    """A small CPU tensor on `device` without making the host wait for it."""
    if torch.device(device).type != "cuda":
        return t
    return t.pin_memory().to(device, non_blocking=True)


def normalize_batch(x: torch.Tensor) -> torch.Tensor:
    """`helpers.data.preprocess.imagenet_normalize` on a uint8 batch (N, C, H, W) where it lies:
    float (N, 3, H, W), a grey channel copied into the three."""
    x = x.to(torch.float32) / 255.0
    x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
    mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, dtype=torch.float32).view(1, 3, 1, 1)
    return (x - _to(mean, x.device)) / _to(std, x.device)
