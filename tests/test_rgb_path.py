"""RGB through the whole path, on small BreakHis fixtures in the official layout: the reader
and cache give (N, H, W, 3), the cWGAN-GP trains from the command line and writes RGB PNGs,
the DDPM's U-Net, the quality features and the classifiers take three channels, and the
figures draw colour. Grey sources keep their shapes (their own tests run unchanged)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from test_breakhis import make_breakhis  # noqa: E402

from helpers.config import resolve  # noqa: E402
from helpers.data.preprocess import imagenet_normalize, load_images, to_grey, to_nchw  # noqa: E402
from helpers.prepare import load_prepared  # noqa: E402


@pytest.fixture(scope="module")
def bh(tmp_path_factory):
    """Eight patients per class (a grouped test part needs seven), RGB noise PNGs."""
    root = tmp_path_factory.mktemp("rgb")
    make_breakhis(root / "data", patients_per_class=8, mags=(40,), per_mag=2, size=(40, 28))
    cfg = resolve("smoke", "breakhis", root / "data", root / "runs")
    records = load_prepared(cfg, progress=False, verbose=False)
    return cfg, records


def _colour(a: np.ndarray) -> bool:
    """Whether an (..., 3) image has channels that differ (not a grey image stored as RGB)."""
    return a.shape[-1] == 3 and not (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 1], a[..., 2]))


def test_cache_is_rgb_and_thumbnails_grey(bh):
    from helpers.data.duplicates import thumbnails

    cfg, records = bh
    x = load_images(records, 32, cfg.cache_dir, progress=False)
    assert x.shape == (len(records), 32, 32, 3) and x.dtype == np.uint8 and _colour(x)
    cached = sorted(cfg.cache_dir.glob("breakhis-32px-lanczos-rgb-*.npy"))
    assert len(cached) == 1 and np.array_equal(np.load(cached[0]), x)
    assert np.array_equal(load_images(records, 32, cfg.cache_dir, progress=False), x)  # from the cache
    grey = load_images(records, 32, cfg.cache_dir, progress=False, channels=1)
    assert grey.shape == (len(records), 32, 32)
    assert thumbnails(records, cfg.cache_dir, progress=False).ndim == 3


def test_two_writers_of_one_cache_do_not_collide(bh, tmp_path, monkeypatch):
    """The classifier grid's worker processes may build one cache at once: a writer that saved
    its temporary file while another renamed the same name away failed (FileNotFoundError)."""
    import helpers.data.preprocess as pp

    _, records = bh
    real_save, other = np.save, []

    def save(path, arr):  # this writer has saved; the other one saves and renames before it renames
        real_save(path, arr)
        if not other:
            other.append(None)
            other[0] = pp.load_images(records, 16, tmp_path, progress=False)

    monkeypatch.setattr(pp.np, "save", save)
    x = pp.load_images(records, 16, tmp_path, progress=False)
    assert np.array_equal(x, other[0]) and not list(tmp_path.glob("*.part.npy"))
    assert len(list(tmp_path.glob("*.npy"))) == 1


def test_grey_of_rgb_is_pils_luminance():
    rgb = np.random.default_rng(0).integers(0, 256, (2, 5, 7, 3), dtype=np.uint8)
    want = np.stack([np.asarray(Image.fromarray(a, "RGB").convert("L")) for a in rgb])
    assert np.array_equal(to_grey(rgb), want)


def test_nchw_and_imagenet_per_channel():
    rgb = np.zeros((1, 2, 2, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 255, 0, 128
    t = to_nchw(rgb)
    assert t.shape == (1, 3, 2, 2) and t[0, 0].eq(1).all() and t[0, 1].eq(-1).all()
    z = imagenet_normalize(rgb)
    assert z.shape == (1, 3, 2, 2)
    np.testing.assert_allclose(z[0, :, 0, 0], [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225],
                               rtol=1e-5)
    grey = np.full((1, 2, 2), 128, np.uint8)  # grey: copied into the three channels, as before
    np.testing.assert_allclose(imagenet_normalize(grey)[0, :, 0, 0],
                               (128 / 255 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225]),
                               rtol=1e-5)
    assert to_nchw(grey).shape == (1, 1, 2, 2)


@pytest.fixture(scope="module")
def trained(bh):
    """`python -m helpers train cwgan --profile smoke --dataset breakhis ...`, in-process."""
    from helpers.cli import main

    cfg, _ = bh
    rc = main(["train", "cwgan", "--profile", "smoke", "--dataset", "breakhis", "--data-dir", str(cfg.data_dir),
               "--runs-dir", str(cfg.runs_dir)])
    assert rc == 0
    return cfg.runs_dir / "synthetic" / "cwgan" / "manifest.csv"


def test_cwgan_trains_on_rgb_and_writes_rgb_pngs(bh, trained):
    import pandas as pd

    from helpers.gan.pipeline import load_generator, run_dirs
    from helpers.train.checkpoint import load_checkpoint

    cfg, _ = bh
    df = pd.read_csv(trained)
    assert set(df["class_name"]) == {"benign", "malignant"} and len(df)
    for rel in df["path"][:4]:
        with Image.open(trained.parent / rel) as im:
            assert im.mode == "RGB" and im.size == (cfg.size, cfg.size)
            assert _colour(np.asarray(im))
    run = run_dirs("cwgan", cfg)["all"]
    ck, _ = load_checkpoint(run / "checkpoint.pt")
    assert ck["config"]["channels"] == 3
    G = load_generator(run)
    assert G.channels == 3 and G(torch.randn(2, G.latent), torch.tensor([0, 1])).shape == (2, 3, cfg.size, cfg.size)
    grid = np.asarray(Image.open(sorted((run / "samples").glob("step_*.png"))[-1]))
    assert _colour(grid)  # the fixed-noise grids are colour too
    fig = cfg.runs_dir / "figures" / "cwgan_real_vs_synthetic.png"
    assert fig.exists() and _colour(np.asarray(Image.open(fig).convert("RGB")))


def test_grid_rows_and_figures_keep_colour_and_grey(tmp_path):
    from torchvision.utils import save_image

    from helpers.gan.figures import grid_row
    from helpers.plots import class_grid

    g = torch.Generator().manual_seed(0)
    for c in (1, 3):
        save_image(torch.rand(8, c, 8, 8, generator=g), tmp_path / f"g{c}.png", nrow=8, pad_value=1.0)
        rows = grid_row(tmp_path / f"g{c}.png", n=3)
        assert len(rows) == 3 and rows[0].shape == ((8, 8) if c == 1 else (8, 8, 3))
    rgb = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    fig = class_grid({"rgb": rgb, "float": torch.rand(2, 3, 8, 8) * 2 - 1, "grey": rgb[..., 0]}, n=2)
    shapes = [ax.images[0].get_array().shape for ax in fig.axes[:6]]
    assert shapes[:4] == [(8, 8, 3)] * 4 and shapes[4] == (8, 8)
    assert fig.axes[4].images[0].get_cmap().name == "gray" and np.array_equal(fig.axes[0].images[0].get_array(), rgb[0])
    plt.close(fig)


def test_ddpm_unet_and_training_with_three_channels(tmp_path):
    from helpers.ddpm.pipeline import load_trained, train_ddpm
    from helpers.ddpm.presets import preset
    from helpers.ddpm.unet import UNet

    net = UNet(size=32, in_ch=3, base=8, mults=(1, 2), n_classes=2)
    x = torch.randn(2, 3, 32, 32)
    assert net(x, torch.tensor([3, 7]), torch.tensor([0, 1])).shape == x.shape
    imgs = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    p = preset("smoke", steps=3, sample_every=3, checkpoint_every=3)
    t = train_ddpm(imgs, [0, 1, 0, 1, 0, 1], tmp_path / "ddpm", p, 2, progress=False)
    out = t.generate(1, 2, seed=0, steps=2)
    assert out.shape == (2, 3, 32, 32)
    again = load_trained(tmp_path / "ddpm")
    assert again.model.in_ch == 3 and again.generate(1, 2, seed=0, steps=2).shape == (2, 3, 32, 32)


def test_quality_features_fid_kid_and_report_on_rgb(bh, trained):
    from helpers.quality.features import RandomExtractor, domain_extractor
    from helpers.quality.metrics import fid, kid
    from helpers.quality.report import score_sets

    cfg, records = bh
    train = records[records["split"] == "train"]
    x = load_images(train, cfg.size, cfg.cache_dir, progress=False)
    ext = domain_extractor(cfg, records, steps=5, progress=False)
    assert ext.model.channels == 3
    f = ext(x)
    assert f.shape == (len(x), ext.dim) and np.isfinite(f).all()
    half = len(f) // 2
    assert np.isfinite(fid(f[:half], f[half:])) and np.isfinite(kid(f[:half], f[half:], subset_size=4, n_subsets=5)[0])
    with pytest.raises(ValueError, match="built for 3-channel images"):
        ext(x[..., 0])
    assert RandomExtractor(8, 16, channels=3)(x).shape == (len(x), 16)
    report = score_sets(cfg, records, {"cwgan": trained}, extractor=ext, progress=False, verbose=False)
    row = report.table.set_index(["generator", "class_name"]).loc[("cwgan", "all")]
    assert np.isfinite(row["fid"]) and np.isfinite(row["kid"]) and 0 <= row["memorised"] <= 1
    assert report.sets["cwgan"]["images"].shape[-1] == 3


def test_classifier_trains_on_rgb(bh, trained):
    from helpers.classify.data import make_dataloaders, plain
    from helpers.classify.grid import run_grid
    from helpers.classify.settings import SPLIT, Setting, parts, plan

    cfg, records = bh
    records = plain(records)
    train, test = parts(records, SPLIT)
    dls = make_dataloaders(train, test, cfg.size, "busi_study", 4, cfg.cache_dir, seed=0)
    xb, _ = dls.train.one_batch()
    assert xb.shape[1:] == (3, cfg.size, cfg.size)
    x_test = load_images(test, cfg.size, cfg.cache_dir, progress=False)
    first = torch.as_tensor(imagenet_normalize(x_test[:1]))
    assert torch.allclose(dls.valid.dataset.batch(torch.tensor([0]))[0], first)
    assert not torch.allclose(first[:, 0], first[:, 1])  # each channel its own, not a grey copy
    settings = [Setting.parse("real"), Setting.parse("real+trad+syn:cwgan", "busi_study")]
    res = run_grid(cfg, records, plan(records, ["tiny"], settings, folds=[SPLIT]), progress=False)
    assert len(res) == 2 and (res["n_train_synth"] > 0).sum() == 1
    assert res[["accuracy", "kappa", "mcc", "auc_macro"]].notna().all().all()


def test_breakhis_presets():
    from helpers.gan.nets import Generator
    from helpers.gan.presets import get_preset

    paper = get_preset("cwgan", "paper", dataset="breakhis")
    assert (paper.lr_g, paper.lr_d, paper.gp_weight, paper.batch) == (2.5e-3, 2.5e-3, 1.0, 32)
    assert get_preset("cwgan", "paper").lr_g == 1e-4  # other datasets keep the profile's
    assert get_preset("cwgan", "quick", dataset="breakhis8").steps == get_preset("cwgan", "quick", dataset="breakhis").steps
    assert get_preset("cwgan", "quick", dataset="phantom") == get_preset("cwgan", "quick")
    G = Generator(512, latent=8, width=2, channels=3)  # the study's 512 px
    assert G(torch.randn(1, 8)).shape == (1, 3, 512, 512)


def test_standin_layout_patients_and_switch(tmp_path, monkeypatch):
    from helpers.data.breakhis import read_breakhis
    from helpers.data.breakhis_standin import PROFILES, histology_config, write_standin
    from helpers.errors import DataError

    root = write_standin(tmp_path / "s", "smoke", seed=0)
    df = read_breakhis(root, progress=False)
    p = PROFILES["smoke"]
    assert df["patient"].nunique() == sum(p["patients"].values()) and len(df) == sum(p["patients"].values()) * 2
    with Image.open(df["path"].iloc[0]) as im:
        assert im.mode == "RGB" and im.size == p["size"] and _colour(np.asarray(im))
    stamp = (root / ".standin.json").stat().st_mtime_ns
    assert write_standin(root, "smoke", seed=0) == root and (root / ".standin.json").stat().st_mtime_ns == stamp
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "x.txt").write_text("a user's file")
    with pytest.raises(DataError, match="not a BreakHis stand-in folder"):
        write_standin(tmp_path / "mine", "smoke")
    monkeypatch.setenv("COURSE_DATA_ROOT", str(tmp_path / "no-data-here"))
    cfg, real = histology_config("smoke", "phantom", "", str(tmp_path / "runs"), 0)
    assert not real and cfg.dataset == "breakhis" and cfg.runs_dir == tmp_path / "runs" / "histopathology"
    cfg, real = histology_config("smoke", "phantom", "", str(tmp_path / "runs"), 0, breakhis_dir=str(root))
    assert real and cfg.data_dir == root
