"""Feature extractors: random (tests), the cached domain classifier, Inception from a local file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.data.preprocess import load_images
from helpers.data.records import DataError
from helpers.prepare import load_prepared
from helpers.quality import metrics as M
from helpers.quality.features import (
    INCEPTION_ENV,
    InceptionExtractor,
    RandomExtractor,
    domain_extractor,
    get_extractor,
)


@pytest.fixture
def real(smoke_cfg):
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    return records, train, load_images(train, smoke_cfg.size, None, progress=False)


def test_random_extractor_is_deterministic_and_shaped(real):
    _, _, x = real
    f1, f2 = RandomExtractor(8, 32, seed=1)(x), RandomExtractor(8, 32, seed=1)(x)
    assert f1.shape == (len(x), 32) and f1.dtype == np.float64
    np.testing.assert_array_equal(f1, f2)
    assert not np.allclose(f1, RandomExtractor(8, 32, seed=2)(x))


def test_real_vs_real_far_below_real_vs_noise(real):
    _, train, x = real
    f = RandomExtractor(8, 32, seed=0)(x)
    noise = np.random.default_rng(0).integers(0, 256, x.shape).astype(np.uint8)
    fn = RandomExtractor(8, 32, seed=0)(noise)
    a, b = M.halves(train["label"].to_numpy(), 1, seed=0)[0]
    assert M.fid(f[a], fn[: len(b)]) > 20 * M.fid(f[a], f[b])


def test_domain_extractor_trains_once_and_is_reused(real, smoke_cfg):
    records, _, x = real
    ext = domain_extractor(smoke_cfg, records, steps=5, progress=False)
    assert (ext.run_dir / "checkpoint.pt").exists() and (ext.run_dir / "history.csv").exists()
    f1 = ext(x)
    again = domain_extractor(smoke_cfg, records, steps=5, progress=False)
    assert again.run_dir == ext.run_dir
    np.testing.assert_allclose(again(x), f1, rtol=1e-5, atol=1e-6)
    assert f1.shape[1] == ext.dim and np.isfinite(f1).all()


def test_inception_reads_a_local_weights_file(real, tmp_path, monkeypatch):
    from torchvision.models import inception_v3

    _, _, x = real
    torch.manual_seed(0)
    path = tmp_path / "inception.pth"
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    monkeypatch.setenv(INCEPTION_ENV, str(path))
    f = InceptionExtractor()(x[:1])
    assert f.shape == (1, 2048) and np.isfinite(f).all()


def test_inception_errors_say_what_to_do(tmp_path, monkeypatch, smoke_cfg):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    with pytest.raises(DataError, match=INCEPTION_ENV):
        InceptionExtractor()
    with pytest.raises(DataError, match="does not exist"):
        InceptionExtractor(tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(DataError, match="not a torchvision inception_v3"):
        InceptionExtractor(bad)
    with pytest.raises(ValueError, match="Unknown feature extractor"):
        get_extractor(smoke_cfg, kind="clip")


def test_batchnorm_recalibration_uses_the_exact_data_statistics(real):
    from helpers.quality.features import SmallCNN, recalibrate_batchnorm, to_tensor

    _, _, x = real
    torch.manual_seed(0)
    model = SmallCNN(3, 8, 16)
    xt = to_tensor(x)
    recalibrate_batchnorm(model, xt, batch=7)  # several uneven batches: still the exact mean
    conv, bn = model.body[0], model.body[1]
    with torch.no_grad():
        h = conv(xt)
    torch.testing.assert_close(bn.running_mean, h.mean(dim=(0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert not model.training and bn.momentum == 0.1
