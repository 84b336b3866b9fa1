"""Architectures build and run on small gray images; ImageNet weights only when present."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from helpers.classify import models as Mo
from helpers.classify.data import GrayImages, class_weights
from helpers.data.preprocess import imagenet_normalize


@pytest.mark.parametrize("name", ["resnet18", "resnet18_small", "mobilenet_v2", "inception_v3", "alexnet_style", "tiny",
                                  "fusion_small"])
def test_architectures_give_logits_for_small_inputs(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, used = Mo.build_model(name, 3, pretrained=False)
    assert used is False
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3)


def test_auto_uses_weights_only_from_the_local_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.warns(UserWarning, match="RANDOM weights"):
        _, used = Mo.build_model("resnet18", 3, pretrained="auto")
    assert used is False
    # a weights file in the cache is used (no download): save random weights under the expected name
    path = Mo.weights_file("resnet18")
    assert path.parent == tmp_path / "checkpoints"
    import torchvision

    ref = torchvision.models.resnet18()
    path.parent.mkdir(parents=True)
    torch.save(ref.state_dict(), path)
    monkeypatch.setattr("torch.hub.load_state_dict_from_url",
                        lambda url, *a, **kw: torch.load(path, weights_only=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning when the weights are there
        model, used = Mo.build_model("resnet18", 3, pretrained="auto")
    assert used is True
    torch.testing.assert_close(model.conv1.weight, ref.conv1.weight)
    assert model.fc.out_features == 3
    with pytest.raises(ValueError, match="pretrained must be"):
        Mo.build_model("resnet18", 3, pretrained="yes")
    with pytest.raises(ValueError, match="Unknown architecture"):
        Mo.build_model("resnet9000", 3)


def test_gray_images_become_three_identical_imagenet_channels():
    x = np.random.default_rng(0).integers(0, 256, (4, 16, 16), dtype=np.uint8)
    ds = GrayImages(x, [0, 1, 2, 0])
    img, label = ds[1]
    assert img.shape == (3, 16, 16) and int(label) == 1
    np.testing.assert_allclose(img.numpy(), imagenet_normalize(x[1:2])[0], rtol=1e-6)
    # the three channels hold the same gray value, each normalised with its own mean/std
    gray = img * torch.tensor([0.229, 0.224, 0.225])[:, None, None] + torch.tensor([0.485, 0.456, 0.406])[:, None, None]
    torch.testing.assert_close(gray[0], gray[1]) and torch.testing.assert_close(gray[1], gray[2])
    torch.testing.assert_close(gray[0], torch.from_numpy(x[1] / 255.0).float())
    aug = GrayImages(x, [0, 1, 2, 0], augment=lambda t: torch.flip(t, dims=[-1]))
    np.testing.assert_allclose(aug[1][0].numpy(), imagenet_normalize(x[1:2, :, ::-1])[0], rtol=1e-6)


def test_class_weights_are_balanced():
    w = class_weights([0, 0, 0, 1, 2, 2], 3)
    np.testing.assert_allclose(w.numpy(), [6 / 9, 6 / 3, 6 / 6])
    assert class_weights([0, 0], 3)[1] == 0


def test_yolo_is_an_optional_extra():
    try:
        import ultralytics  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="optional extra"):
            Mo.build_model("yolov8_cls", 3)
    else:
        pytest.skip("ultralytics is installed")


def test_every_study_architecture_names_a_real_torchvision_model():
    import torchvision.models as tvm

    for name, (builder, weights, _head) in Mo.TORCHVISION.items():
        assert callable(getattr(tvm, builder)), name
        assert getattr(tvm, weights).DEFAULT.url.endswith(".pth"), name
    study = {"vgg16_bn", "resnet50", "mobilenet_v2", "efficientnet_v2_s", "efficientnet_v2_l", "densenet201",
             "inception_v3", "alexnet_style", "fusion", "resnet18", "yolov8_cls"}
    assert study <= set(Mo.ARCHITECTURES)
    assert set(Mo.FUSION_BACKBONES["paper"]) <= set(Mo.TORCHVISION)


def test_published_numbers_are_the_studies():
    from helpers.classify import published as P

    busi = P.published("BUSI", "accuracy")
    resnet = busi[busi.model == "ResNet"].set_index("setting")["value"]
    assert resnet.to_dict() == pytest.approx({"real": 0.79, "real+trad": 0.82, "real+syn": 0.89, "real+trad+syn": 0.93})
    assert P.published("DCGAN").query("setting == 'real+syn' and metric == 'accuracy'")["value"].item() == 0.9493
    assert P.base_setting("real+trad+syn:cwgan") == "real+trad+syn"
    assert P.base_setting("real+syn:ddpm@50") == "real+syn@50"
