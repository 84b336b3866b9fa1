"""The classifiers the studies used, as torchvision models wrapped in fastai Learners.

| name               | study                         | torchvision model / note                           |
|--------------------|-------------------------------|----------------------------------------------------|
| vgg16_bn           | WGAN, BUSI                    | vgg16_bn                                           |
| resnet50           | WGAN, BUSI ("ResNet")         | resnet50                                           |
| mobilenet_v2       | DCGAN                         | mobilenet_v2                                       |
| efficientnet_v2_s  | DDPM (L in the paper)         | efficientnet_v2_s; efficientnet_v2_l as paper option|
| densenet201        | cWGAN (single baseline)       | densenet201                                        |
| inception_v3       | BUSI                          | inception_v3 (inputs below 75 px are upsampled)    |
| alexnet_style      | BUSI ("CNN")                  | written here: 5 conv layers, dropout 0.3           |
| fusion             | cWGAN multi-scale head        | DenseNet-201 + MNASNet-1.0 (torchvision has no      |
|                    |                               | NASNetMobile; MNASNet is its NAS-searched mobile    |
|                    |                               | counterpart) + ResNet-101, features concatenated   |
| resnet18           | quick profile (real data)     | resnet18                                           |
| resnet18_small     | a CPU alternative             | ResNet18's layout (4 stages x 2 basic blocks) at    |
|                    |                               | 1/4 width, for a 2-core CPU; never pretrained      |
| tiny               | smoke and quick profiles      | alexnet_style at 1/8 width: on a CPU it learns more |
|                    |                               | per second than resnet18_small (classify.presets)  |
| yolov8_cls         | WGAN (optional extra)         | ultralytics YOLOv8n-cls, only if installed         |

`pretrained="auto"` loads ImageNet weights only when the file is already in the local torch
hub cache (`torch.hub.get_dir()/checkpoints`); otherwise the network starts from random
weights and a warning says so. `pretrained=True` may download them; tests never do.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from helpers.errors import SettingError

TORCHVISION = {  # name -> (builder, weights enum, attribute path of the last Linear)
    "resnet18": ("resnet18", "ResNet18_Weights", "fc"),
    "resnet50": ("resnet50", "ResNet50_Weights", "fc"),
    "resnet101": ("resnet101", "ResNet101_Weights", "fc"),
    "vgg16_bn": ("vgg16_bn", "VGG16_BN_Weights", "classifier.6"),
    "mobilenet_v2": ("mobilenet_v2", "MobileNet_V2_Weights", "classifier.1"),
    "efficientnet_v2_s": ("efficientnet_v2_s", "EfficientNet_V2_S_Weights", "classifier.1"),
    "efficientnet_v2_l": ("efficientnet_v2_l", "EfficientNet_V2_L_Weights", "classifier.1"),
    "densenet201": ("densenet201", "DenseNet201_Weights", "classifier"),
    "inception_v3": ("inception_v3", "Inception_V3_Weights", "fc"),
    "mnasnet1_0": ("mnasnet1_0", "MNASNet1_0_Weights", "classifier.1"),
}
FUSION_BACKBONES = {"paper": ("densenet201", "mnasnet1_0", "resnet101"),
                    "small": ("resnet18", "mobilenet_v2")}
ARCHITECTURES = tuple(k for k in TORCHVISION if k not in ("resnet101", "mnasnet1_0")) + (
    "resnet18_small", "alexnet_style", "tiny", "fusion", "fusion_small", "yolov8_cls")

# The studies' training settings (optimizer Adam throughout), used by the paper profile.
STUDY_TRAINING = {
    "alexnet_style": dict(lr=1e-4, epochs=60, study="BUSI study: Adam 1e-4, 60 epochs, dropout 0.3"),
    "vgg16_bn": dict(lr=1e-3, epochs=10, study="BUSI study transfer learning: Adam 1e-3, 10 epochs"),
    "resnet50": dict(lr=1e-3, epochs=10, study="BUSI study transfer learning: Adam 1e-3, 10 epochs"),
    "inception_v3": dict(lr=1e-3, epochs=10, study="BUSI study transfer learning: Adam 1e-3, 10 epochs"),
    "mobilenet_v2": dict(lr=1e-3, epochs=20, study="DCGAN study: 20 epochs per fold"),
    "efficientnet_v2_s": dict(lr=1e-4, epochs=50, bs=16, study="DDPM study: Adam 1e-4, batch 16, 50 epochs"),
    "efficientnet_v2_l": dict(lr=1e-4, epochs=50, bs=16, study="DDPM study: Adam 1e-4, batch 16, 50 epochs"),
    "densenet201": dict(lr=1e-4, epochs=50, study="cWGAN study: Adam 1e-4, 50 epochs, batch 32"),
    "fusion": dict(lr=1e-4, epochs=50, study="cWGAN study: Adam 1e-4, 50 epochs, batch 32"),
}


def weights_file(name: str) -> Path:
    """Where torchvision keeps (or would download) the ImageNet weights of `name`."""
    import torchvision.models as tvm

    weights = getattr(tvm, TORCHVISION[name][1]).DEFAULT
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(weights.url)


def _use_weights(name: str, pretrained) -> bool:
    if pretrained is True:
        return True  # the user asked: torchvision downloads if needed
    if pretrained in (False, None):
        return False
    if pretrained != "auto":
        raise ValueError(f"pretrained must be 'auto', True or False, not {pretrained!r}")
    if weights_file(name).exists():
        return True
    warnings.warn(f"No ImageNet weights for {name} in {weights_file(name).parent}: starting from RANDOM "
                  "weights. Results will be lower than with transfer learning; pass pretrained=True "
                  "(needs network) or copy the file there.", UserWarning, stacklevel=3)
    return False


def _set_module(model: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, last = path.rpartition(".")
    setattr(model.get_submodule(parent), last, new)


class MinSize(nn.Module):
    """Upsample inputs smaller than `size` (Inception-v3 needs at least 75 px)."""

    def __init__(self, net: nn.Module, size: int = 80):
        super().__init__()
        self.net, self.size = net, size

    def forward(self, x):
        if min(x.shape[-2:]) < self.size:
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.net(x)


def torchvision_model(name: str, n_classes: int, pretrained="auto") -> tuple[nn.Module, bool]:
    """A torchvision classifier with a new n_classes head; returns (model, used_weights)."""
    import torchvision.models as tvm

    builder, wname, head = TORCHVISION[name]
    use = _use_weights(name, pretrained)
    kw = {}
    if name == "inception_v3":
        kw = dict(aux_logits=True, init_weights=not use) if use else dict(aux_logits=False, init_weights=True)
    model = getattr(tvm, builder)(weights=getattr(tvm, wname).DEFAULT if use else None, **kw)
    if name == "inception_v3" and use:
        model.aux_logits, model.AuxLogits = False, None  # the auxiliary head only matters at 299 px
    old = model.get_submodule(head)
    _set_module(model, head, nn.Linear(old.in_features, n_classes))
    if name == "inception_v3":
        model = MinSize(model, 80)
    return model, use


class AlexNetStyle(nn.Module):
    """The BUSI study's from-scratch CNN: AlexNet's conv pattern (5 conv layers, 3 max-pools),
    global pooling so any input size works, dropout 0.3 before the classifier."""

    def __init__(self, n_classes: int, width: float = 1.0, dropout: float = 0.3):
        super().__init__()
        c = [max(4, int(round(w * width))) for w in (64, 192, 384, 256, 256)]
        self.features = nn.Sequential(
            nn.Conv2d(3, c[0], 5, stride=2, padding=2), nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c[0], c[1], 3, padding=1), nn.BatchNorm2d(c[1]), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(c[1], c[2], 3, padding=1), nn.BatchNorm2d(c[2]), nn.ReLU(inplace=True),
            nn.Conv2d(c[2], c[3], 3, padding=1), nn.BatchNorm2d(c[3]), nn.ReLU(inplace=True),
            nn.Conv2d(c[3], c[4], 3, padding=1), nn.BatchNorm2d(c[4]), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(c[4], max(8, c[4] // 2)), nn.ReLU(inplace=True),
                                  nn.Dropout(dropout), nn.Linear(max(8, c[4] // 2), n_classes))

    def forward(self, x):
        return self.head(self.features(x))


class SmallResNet18(nn.Module):
    """ResNet18's topology (a stem, then 4 stages of 2 basic residual blocks, the first block
    of stages 2-4 halving the resolution) at `width` channels in the first stage instead of
    64: 1/16 of the compute at width 16, which is what a 2-core CPU can train in minutes."""

    def __init__(self, n_classes: int, width: int = 16):
        super().__init__()
        from torchvision.models.resnet import BasicBlock

        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        layers, cin = [], width
        for i, cout in enumerate([width, 2 * width, 4 * width, 8 * width]):
            stride = 1 if i == 0 else 2
            down = None if stride == 1 and cin == cout else nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
            layers += [BasicBlock(cin, cout, stride, down), BasicBlock(cout, cout)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, n_classes))

    def forward(self, x):
        return self.head(self.layers(self.stem(x)))


class MultiScaleFusion(nn.Module):
    """The cWGAN study's classifier: several backbones see the same image, their pooled
    features are concatenated ("multi-scale") and a dense head with batch norm and dropout
    0.4 / 0.2 classifies them."""

    def __init__(self, n_classes: int, backbones=FUSION_BACKBONES["paper"], pretrained="auto"):
        super().__init__()
        nets, dims, self.used_weights = [], [], []
        for name in backbones:
            net, used = torchvision_model(name, 1, pretrained)
            _set_module(net, TORCHVISION[name][2], nn.Identity())  # keep the pooled features
            net.eval()
            with torch.no_grad():
                dims.append(net(torch.zeros(1, 3, 64, 64)).shape[1])
            nets.append(net)
            self.used_weights.append(used)
        self.backbones = nn.ModuleList(nets)
        self.head = nn.Sequential(
            nn.BatchNorm1d(sum(dims)), nn.Dropout(0.4), nn.Linear(sum(dims), 256), nn.ReLU(inplace=True),
            nn.BatchNorm1d(256), nn.Dropout(0.2), nn.Linear(256, n_classes))

    def forward(self, x):
        return self.head(torch.cat([b(x) for b in self.backbones], dim=1))


class YoloCls(nn.Module):
    """YOLOv8n-cls from the optional `ultralytics` package, returning logits (its own head
    applies softmax in eval mode, which would break the loss)."""

    def __init__(self, n_classes: int, pretrained="auto"):
        super().__init__()
        try:
            from ultralytics import YOLO
        except ImportError:
            raise ImportError("yolov8_cls needs the optional extra `ultralytics` (pip install ultralytics); "
                              "it is not part of the default install.") from None
        local = Path(torch.hub.get_dir()) / "checkpoints" / "yolov8n-cls.pt"
        use = pretrained is True or (pretrained == "auto" and local.exists())
        if pretrained == "auto" and not use:
            warnings.warn(f"No YOLOv8n-cls weights at {local}: starting from RANDOM weights.", UserWarning,
                          stacklevel=2)
        net = YOLO(str(local) if local.exists() else ("yolov8n-cls.pt" if use else "yolov8n-cls.yaml")).model
        self.body = nn.Sequential(*list(net.model)[:-1])
        head = net.model[-1]
        head.linear = nn.Linear(head.linear.in_features, n_classes)
        self.conv, self.pool, self.drop, self.linear = head.conv, head.pool, head.drop, head.linear
        self.used_weights = use

    def forward(self, x):
        return self.linear(self.drop(self.pool(self.conv(self.body(x))).flatten(1)))


def build_model(name: str, n_classes: int, pretrained="auto") -> tuple[nn.Module, bool]:
    """(model, used_imagenet_weights) for an architecture name (see the module table)."""
    if name in TORCHVISION and name in ARCHITECTURES:
        return torchvision_model(name, n_classes, pretrained)
    if name == "alexnet_style":
        return AlexNetStyle(n_classes), False
    if name == "resnet18_small":
        return SmallResNet18(n_classes), False
    if name == "tiny":
        return AlexNetStyle(n_classes, width=0.125), False
    if name in ("fusion", "fusion_small"):
        m = MultiScaleFusion(n_classes, FUSION_BACKBONES["paper" if name == "fusion" else "small"], pretrained)
        return m, all(m.used_weights)
    if name == "yolov8_cls":
        m = YoloCls(n_classes, pretrained)
        return m, m.used_weights
    raise SettingError(f"Unknown architecture {name!r}; choose one of {', '.join(ARCHITECTURES)}.")
