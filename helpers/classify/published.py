"""The studies' published classifier numbers (from the course's digest of the five studies),
as data, so that the notebook can put our numbers beside them.

Each row: study, data, model (as published), arch (the course's closest architecture),
setting (the course's name for the data setting), metric, value (a fraction), protocol (how
the published number was obtained, and what in it the course's protocol forbids).
Settings: `real` (no augmentation / "original"), `real+trad` (traditional augmentation),
`real+syn` (GAN / synthetic images added), `real+trad+syn` (both), `real+syn@n` (n
synthetic images per class, the DDPM study's scenarios).
"""

from __future__ import annotations

import re

import pandas as pd

STUDIES = {
    "WGAN": "Diyasa et al., WGAN on BUSI; generator trained on the complete set (test images included)",
    "DCGAN": "Samrin, DCGAN + MobileNetV2 on BUSI; 10-fold CV, DCGANs trained on all images (test folds seen)",
    "BUSI": "Al-Dhabyani et al., BUSI + DAGAN; 70/15/15 split, no grouping of near-duplicate frames",
    "DDPM": "Sutjiadi et al., DDPM on INbreast (normal/abnormal); synthetic images also in the test split",
    "cWGAN": "Deebani et al., cWGAN-GP on BreakHis / ICIAR 2018 histopathology",
}

# The DDPM study's scenarios: synthetic images per class -> (accuracy, normal-class F1), with
# 20% of the synthetic images in its test set (an 80/20 split of the combined set).
DDPM_SCENARIOS = {0: (0.84, 0.38), 50: (0.90, 0.78), 125: (0.93, 0.89), 250: (0.94, 0.91)}


def _rows():
    r = []

    def add(study, data, model, arch, setting, metric, value):
        r.append(dict(study=study, data=data, model=model, arch=arch, setting=setting, metric=metric, value=value))

    # WGAN study: original -> expanded (synthetic-balanced) training set, real test split.
    for model, arch, (a0, a1) in [("VGG16", "vgg16_bn", (0.7628, 0.8333)), ("ResNet50", "resnet50", (0.6795, 0.7308)),
                                  ("YOLOv8-cls", "yolov8_cls", (0.8077, 0.8205))]:
        add("WGAN", "BUSI", model, arch, "real", "accuracy", a0)
        add("WGAN", "BUSI", model, arch, "real+syn", "accuracy", a1)
    for metric, (v0, v1) in {"precision_macro": (0.7380, 0.8490), "recall_macro": (0.7496, 0.8021),
                             "f1_macro": (0.7433, 0.8219)}.items():
        add("WGAN", "BUSI", "VGG16", "vgg16_bn", "real", metric, v0)
        add("WGAN", "BUSI", "VGG16", "vgg16_bn", "real+syn", metric, v1)
    for cls, auc in {"malignant": 0.79, "benign": 0.75, "normal": 0.63}.items():
        add("WGAN", "BUSI", "VGG16", "vgg16_bn", "real+syn", f"auc_{cls}", auc)
    # DCGAN study: System 1 (10-fold CV, real) and System 2 (+ DCGAN images in training folds).
    for setting, acc, sens, spec in [("real", 0.9343, (0.89, 0.90, 0.93), (0.95, 0.95, 0.96)),
                                     ("real+syn", 0.9493, (0.96, 0.94, 0.96), (0.97, 0.98, 0.98))]:
        add("DCGAN", "BUSI", "MobileNetV2", "mobilenet_v2", setting, "accuracy", acc)
        for cls, se, sp in zip(("benign", "malignant", "normal"), sens, spec):
            add("DCGAN", "BUSI", "MobileNetV2", "mobilenet_v2", setting, f"sensitivity_{cls}", se)
            add("DCGAN", "BUSI", "MobileNetV2", "mobilenet_v2", setting, f"specificity_{cls}", sp)
    # BUSI study: four settings per classifier (accuracy, %).
    busi = {"CNN": ("alexnet_style", (58, 62, 73, 78)), "VGG16": ("vgg16_bn", (70, 74, 84, 88)),
            "Inception": ("inception_v3", (68, 73, 82, 85)), "ResNet": ("resnet50", (79, 82, 89, 93)),
            "NASNet": ("", (83, 85, 91, 94))}
    for model, (arch, accs) in busi.items():
        for setting, a in zip(("real", "real+trad", "real+syn", "real+trad+syn"), accs):
            add("BUSI", "BUSI", model, arch, setting, "accuracy", a / 100)
    # DDPM study: scenarios +0 / +50 / +125 / +250 per class (accuracy; normal-class F1).
    for n, (acc, f1n) in DDPM_SCENARIOS.items():
        setting = "real" if n == 0 else f"real+syn@{n}"
        add("DDPM", "INbreast", "EfficientNetV2L", "efficientnet_v2_s", setting, "accuracy", acc)
        add("DDPM", "INbreast", "EfficientNetV2L", "efficientnet_v2_s", setting, "f1_normal", f1n)
    # cWGAN study: multi-scale fusion, transfer learning / + traditional / + traditional + cWGAN.
    for data, accs in {"BreakHis (binary)": (0.988, 0.961, 0.996), "ICIAR 2018 (4 classes)": (0.978, 0.955, 0.982)}.items():
        for setting, a in zip(("real", "real+trad", "real+trad+syn"), accs):
            add("cWGAN", data, "DenseNet201+NASNetMobile+ResNet101", "fusion", setting, "accuracy", a)
    for model, arch, f1 in [("DenseNet-201", "densenet201", 0.88), ("ResNet-50", "resnet50", 0.80),
                            ("VGG-16", "vgg16_bn", 0.70)]:
        add("cWGAN", "ICIAR 2018 (4 classes)", model, arch, "real", "f1_macro", f1)
    return r


PUBLISHED = pd.DataFrame(_rows())


def base_setting(setting: str) -> str:
    """Our setting name without the generator: 'real+syn:ddpm@50' -> 'real+syn@50'."""
    return re.sub(r":[\w.-]+", "", setting)


def published(study: str | None = None, metric: str | None = None, data: str | None = None) -> pd.DataFrame:
    """The published rows of `study`, `metric` and `data` (each: all when not given)."""
    df = PUBLISHED
    for col, want in (("study", study), ("metric", metric), ("data", data)):
        df = df[df[col] == want] if want else df
    return df.reset_index(drop=True)
