"""Traditional augmentation policies from the studies, as torchvision v2 transforms.

They act on image tensors (C, H, W) in any range and are applied to training images only.
- `busi_study`: horizontal flip, brightness, scaling, zoom (Al-Dhabyani et al.);
- `cwgan_study`: zoom, rotation 95 deg, shear 0.5 deg (Keras' shear_range is in degrees),
  width/height shift 0.4, horizontal and vertical flips (Deebani et al.);
- `mild`: a gentle default that keeps ultrasound geometry plausible (depth stays down).
"""

from __future__ import annotations

from torchvision.transforms import v2

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
