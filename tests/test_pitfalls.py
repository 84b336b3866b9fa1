"""Notebook 09's helpers, unit by unit: folds, overlays, Grad-CAM, tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image, ImageDraw

from helpers.pitfalls import overlays, splits, tables


# -- folds ----------------------------------------------------------------------------------------
def _toy_records(n=60, seed=0):
    """Thumbnails of n 'scans', every third one a near-copy of the one before it."""
    rng = np.random.default_rng(seed)
    thumbs = rng.normal(size=(n, 8, 8))
    for i in range(1, n, 3):
        thumbs[i] = thumbs[i - 1] + 0.05 * rng.normal(size=(8, 8))
    labels = np.arange(n) // 2 % 3
    names = np.array(["benign", "normal", "malignant"])[labels]
    return pd.DataFrame(dict(path=[f"x{i}.png" for i in range(n)], label=labels, class_name=names, group=range(n),
                             source="phantom")), thumbs


def test_random_folds_are_stratified_and_blind_to_groups():
    records, thumbs = _toy_records()
    fold = splits.random_folds(records, 3, seed=0)
    assert sorted(fold.unique()) == [0, 1, 2]
    assert (pd.crosstab(fold, records["label"]).to_numpy() == 20 / 3 // 1).sum() >= 0  # balanced per class
    assert (pd.crosstab(fold, records["label"]).max() - pd.crosstab(fold, records["label"]).min()).max() <= 1
    near = splits.nearest_in_training(fold, thumbs)
    assert (near > 0.97).any()  # some twin lands on the other side


def test_grouped_folds_at_a_threshold_keep_twins_together():
    records, thumbs = _toy_records()
    fold, group = splits.grouped_folds_at(records, thumbs, 0.97, 3, seed=0)
    assert group.nunique() < len(records)
    assert (records.assign(fold=fold, group=group).groupby("group")["fold"].nunique() == 1).all()
    assert (splits.nearest_in_training(fold, thumbs) <= 0.97).all()


def test_near_duplicate_protocols_name_their_shortcut_and_skip_impossible_thresholds():
    records, thumbs = _toy_records()
    protos, skipped = splits.near_duplicate_protocols(records, thumbs, 3, 0, (0.97, 0.99))
    by = {p.name: p for p in protos}
    assert by["random split"].leak == "random-split" and by["random split"].label == "leaky:random-split"
    assert by["grouped@0.97"].leak is None and by["grouped@0.99"].leak == "loose-groups"
    assert not skipped
    # at -1 every pair is "a near-duplicate": one group, which cannot be cut into 3 folds
    protos, skipped = splits.near_duplicate_protocols(records, thumbs, 3, 0, (-1.0,))
    assert "grouped@-1.00" in skipped and [p.name for p in protos] == ["random split"]


def test_repeat_zero_is_the_honest_protocol():
    records, thumbs = _toy_records()
    reps = splits.repeated(records, thumbs, 3, seed=4, repeats=2)
    fold, _ = splits.grouped_folds_at(records, thumbs, 0.97, 3, seed=4)
    assert (reps[0].fold.to_numpy() == fold.to_numpy()).all()
    assert [r.repeat for r in reps] == [0, 1] and reps[1].seed == 5
    assert not (reps[1].fold.to_numpy() == fold.to_numpy()).all()


# -- overlays -------------------------------------------------------------------------------------
def _scan_with_overlays(s=256, seed=0):
    rng = np.random.default_rng(seed)
    base = np.clip(rng.normal(90, 20, (s, s)), 0, 255).astype(np.uint8)
    img = Image.fromarray(base)
    d = ImageDraw.Draw(img)
    d.text((10, 4), "LT BREAST 2:00", fill=250)
    for x, y in [(60, 120), (180, 120)]:  # calipers
        d.line([(x - 4, y), (x + 4, y)], fill=255)
        d.line([(x, y - 4), (x, y + 4)], fill=255)
    drawn = np.asarray(img) != base
    return base, np.asarray(img), drawn


def test_overlay_mask_finds_text_and_calipers_and_inpaint_removes_them():
    base, img, drawn = _scan_with_overlays()
    m = overlays.overlay_mask(img)
    assert m[drawn].mean() > 0.95  # recall
    assert m.mean() < 0.05  # not the whole image
    assert not overlays.overlay_mask(base).any() or overlays.overlay_mask(base).mean() < 0.002
    clean, m2 = overlays.masked(img)
    assert (m2 == m).all()
    assert abs(float(clean[drawn].mean()) - float(base[drawn].mean())) < 15  # painted back to the background
    assert (clean[~m] == img[~m]).all()  # nothing else changed


def _overlay_records(folder, seeds) -> pd.DataFrame:
    """Records of scans with overlays (one per seed), written to `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, seed in enumerate(seeds):
        _, img, _ = _scan_with_overlays(seed=seed)
        Image.fromarray(img).save(folder / f"benign ({i}).png")
        paths.append(str(folder / f"benign ({i}).png"))
    return pd.DataFrame(dict(path=paths, label=0, class_name="benign", group=range(len(paths)), source="phantom"))


def test_masked_dataset_writes_once_and_keeps_the_original_path(tmp_path):
    records = _overlay_records(tmp_path / "src", range(3))
    paths = list(records["path"])
    out = overlays.masked_dataset(records, tmp_path / "masked", progress=False)
    assert list(out["image"]) == paths and all(p.endswith(".png") for p in out["path"])
    assert (out["overlay_share"] > 0).all()
    assert np.asarray(Image.open(out["path"].iloc[0])).shape == (256, 256)  # stored like the original
    stamp = [Image.open(p).info for p in out["path"]]
    again = overlays.masked_dataset(records, tmp_path / "masked", progress=False)
    assert list(again["path"]) == list(out["path"]) and len(stamp) == 3
    masks = overlays.masks_at(records, 64)
    assert masks.shape == (3, 64, 64) and masks.any()


# -- Grad-CAM -------------------------------------------------------------------------------------
def test_cam_from_is_relu_of_the_gradient_weighted_maps():
    rng = np.random.default_rng(0)
    a, g = np.abs(rng.normal(size=(2, 3, 4, 4))), rng.normal(size=(2, 3, 4, 4))
    w = g.mean(axis=(2, 3))
    want = np.maximum(np.einsum("nk,nkij->nij", w, a), 0)
    want = want / want.reshape(2, -1).max(1)[:, None, None]
    assert np.allclose(overlays.cam_from(a, g), want)
    assert (overlays.cam_from(a, -np.abs(g) * 0 - 1) == 0).all()


@pytest.mark.parametrize("arch", ["tiny", "resnet18_small"])
def test_gradcam_maps_have_the_image_size_and_sit_in_0_1(arch):
    from helpers.classify.models import build_model

    torch.manual_seed(0)
    model, _ = build_model(arch, 3, False)
    layer = overlays.target_layer(model, 32)
    assert any(isinstance(m, torch.nn.Conv2d) for m in layer.modules()) or isinstance(layer, torch.nn.ReLU)
    imgs = np.random.default_rng(0).integers(0, 256, (5, 32, 32), dtype=np.uint8)
    maps, preds = overlays.gradcam(model, imgs)
    assert maps.shape == (5, 32, 32) and preds.shape == (5,)
    assert maps.min() >= 0 and maps.max() <= 1


def test_gradcam_points_at_the_pixels_a_model_uses():
    """Grad-CAM weighs feature maps: with the evidence (bright pixels, which alone activate the
    feature) in the top-left quarter, the map lies there."""

    class Corner(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 3, padding=1)
            torch.nn.init.constant_(self.conv.weight, 0.1)
            torch.nn.init.zeros_(self.conv.bias)

        def forward(self, x):
            f = torch.relu(self.conv(x))
            return torch.stack([f[:, 0].mean((1, 2)), -f[:, 1].mean((1, 2))], 1)

    imgs = np.zeros((2, 16, 16), dtype=np.uint8)
    imgs[:, :8, :8] = 255
    maps, _ = overlays.gradcam(Corner(), imgs, target=[0, 0])
    assert maps[:, :8, :8].sum() > 0.9 * maps.sum()
    corner = np.zeros((2, 16, 16), bool)
    corner[:, :8, :8] = True
    on, area = overlays.overlay_share(maps, corner)
    assert np.allclose(area, 0.25) and (on > 0.9).all()


# -- tables ---------------------------------------------------------------------------------------
def _preds(correct, view="v", source="phantom", groups=None, seed=0):
    n = len(correct)
    return pd.DataFrame(dict(view=view, image=[f"i{k}" for k in range(n)], seed=seed, repeat=0, correct=correct,
                             source=source, group=groups if groups is not None else [f"g{k // 2}" for k in range(n)]))


def test_accuracy_and_paired_inflation():
    rng = np.random.default_rng(0)
    honest = (rng.random(200) < 0.6).astype(int)
    leaky = np.where(rng.random(200) < 0.4, 1, honest)
    a = tables.accuracy(_preds(honest), 500, 0)
    assert a["lo"] <= a["accuracy"] <= a["hi"] and a["n"] == 200
    same = tables.paired_inflation(_preds(honest), _preds(honest), 200, 0)
    assert same["inflation"] == 0 and same["lo"] == 0 and same["hi"] == 0
    up = tables.paired_inflation(_preds(leaky), _preds(honest), 500, 0)
    assert np.isclose(up["inflation"], leaky.mean() - honest.mean()) and up["lo"] > 0 and up["p"] < 0.05
    # only images both protocols scored are compared
    part = tables.paired_inflation(_preds(leaky)[:50], _preds(honest), 200, 0)
    assert part["n"] == 50


def test_mixed_inflation_is_accuracy_with_minus_without_synthetic_images():
    real = _preds(np.r_[np.ones(30), np.zeros(20)].astype(int))
    syn = _preds(np.ones(25, dtype=int), source="synthetic").assign(image=[f"s{k}" for k in range(25)],
                                                                    group=[f"-{k + 1}" for k in range(25)])
    view = pd.concat([real, syn], ignore_index=True)
    r = tables.mixed_inflation(view, 500, 0)
    assert np.isclose(r["inflation"], 55 / 75 - 30 / 50) and r["lo"] > 0


def test_split_accuracies_and_the_closing_table_text():
    p = pd.concat([_preds(np.ones(10, int)).assign(fold=0), _preds(np.zeros(10, int)).assign(fold=1)])
    s = tables.split_accuracies(p)
    assert list(s["accuracy"]) == [1.0, 0.0]
    acc = dict(accuracy=0.8, lo=0.7, hi=0.9)
    rows = [dict(shortcut="a", protocol="p", guard="leaky:random-split", acc=acc, reference="h", ref_acc=acc,
                 inflation=dict(inflation=0.05, lo=0.01, hi=0.09, n=10), studies="BUSI study"),
            dict(shortcut="b", protocol="q", guard="honest", acc=acc, reference="h", ref_acc=acc,
                 inflation=dict(inflation=0.01, lo=-0.02, hi=0.04, n=10), studies="-")]
    t = tables.comparison(rows)
    text = tables.conclusions(t)
    assert "above 0" in text[0] and "includes 0" in text[1] and len(text) == 2
    shown = tables.pretty(t)
    assert shown[tables.INFL_HEAD].iloc[0] == "+0.050 [+0.010, +0.090]"
    split = tables.comparison([dict(rows[1], acc=dict(accuracy=0.74, lo=0.63, hi=0.74), interval="range over 9 splits",
                                    inflation=dict(inflation=0.05, lo=-0.06, hi=0.05, n=9))])
    shown = tables.pretty(split)  # a range is never shown under a CI header
    assert shown[tables.ACC_HEAD].iloc[0] == "0.740 (range 0.630 to 0.740)"
    assert shown[tables.INFL_HEAD].iloc[0] == "+0.050 (range -0.060 to +0.050)"
    assert not [c for c in shown.columns if c.endswith("[95% CI]") or c.endswith("CI]")]
    top = tables.comparison([dict(rows[1], acc=dict(accuracy=1.0, lo=1.0, hi=1.0),
                                  ref_acc=dict(accuracy=1.0, lo=1.0, hi=1.0))])
    assert "ceiling" in tables.conclusions(top)[-1]


def test_the_closing_text_flags_an_honest_protocol_at_the_floor():
    acc = dict(accuracy=0.8, lo=0.7, hi=0.9)
    t = tables.comparison([dict(shortcut="a", protocol="p", guard="leaky:random-split", acc=acc, reference="h",
                                ref_acc=acc, inflation=dict(inflation=0.01, lo=-0.05, hi=0.07, n=10), studies="-")])
    low = dict(accuracy=0.51, lo=0.42, hi=0.60)
    text = tables.conclusions(t, honest=low, majority=0.562)
    assert text[0].startswith("**The honest protocol is at the floor**") and "0.562" in text[0]
    assert "detects 4 times in 5 is 0.086" in text[1]  # (1.96 + 0.84) x 0.12 / (2 x 1.96)
    assert not tables.conclusions(t, honest=dict(accuracy=0.75, lo=0.65, hi=0.85), majority=0.562)[0].startswith("**The")
    assert len(tables.conclusions(t)) == 1  # without the honest accuracy, no warning


def test_twins_in_training_counts_per_level():
    from helpers.pitfalls.experiments import twins_in_training

    records, thumbs = _toy_records()
    protos, _ = splits.near_duplicate_protocols(records, thumbs, 3, 0, (0.97,))
    t = twins_in_training(protos, thumbs, (0.5, 0.97))
    assert list(t.columns) == ["r > 0.50", "r > 0.97"]
    assert t.loc["grouped@0.97", "r > 0.97"] == 0 and t.loc["random split", "r > 0.97"] > 0
    assert (t["r > 0.50"] >= t["r > 0.97"]).all()


def test_presets_apply_changes_and_refuse_unknown_settings():
    from helpers.errors import SettingError
    from helpers.pitfalls.presets import STUDIES, preset

    p = preset("quick", arch="resnet18_small", epochs=None)
    assert p.arch == "resnet18_small" and p.epochs == preset("quick").epochs
    with pytest.raises(SettingError, match="The pitfalls budget has no setting .epoch.; known: arch, bs"):
        preset("quick", epoch=3)
    with pytest.raises(SettingError, match="Unknown profile"):
        preset("fast")
    assert "DDPM" in STUDIES["synthetic-in-test"] and "DCGAN" in STUDIES["generator-saw-test"]


def test_exercise_checks_accept_the_answer_and_reject_near_misses():
    from helpers.exercises.evaluation import check_gradcam, check_paired_inflation

    def paired(s, h, n_boot, seed, same_draws=True):
        d = np.asarray(s, float) - np.asarray(h, float)
        rng = np.random.default_rng(seed)
        if same_draws:
            idx = rng.integers(0, len(d), size=(n_boot, len(d)))
            return d.mean(), *np.percentile(d[idx].mean(1), [2.5, 97.5])
        a = rng.integers(0, len(d), size=(n_boot, len(d)))  # unpaired: each protocol its own resample
        b = rng.integers(0, len(d), size=(n_boot, len(d)))
        reps = np.asarray(s, float)[a].mean(1) - np.asarray(h, float)[b].mean(1)
        return d.mean(), *np.percentile(reps, [2.5, 97.5])

    check_paired_inflation(paired)
    with pytest.raises(AssertionError, match="paired interval"):
        check_paired_inflation(lambda s, h, n, seed: paired(s, h, n, seed, same_draws=False))
    check_gradcam(overlays.cam_from)
    with pytest.raises(AssertionError, match="Grad-CAM"):
        check_gradcam(lambda a, g: np.maximum((g.mean(axis=(2, 3))[:, :, None, None] * a).sum(1), 0))  # not scaled


def test_paired_mean_difference():
    a, b = np.array([0.3, 0.2, 0.4, 0.1]), np.array([0.1, 0.1, 0.2, 0.1])
    r = tables.paired_mean_difference(a, b, ["g0", "g0", "g1", "g2"], 300, 0)
    assert np.isclose(r["diff"], 0.125) and r["lo"] >= 0 and r["hi"] <= 0.2 + 1e-9 and r["n"] == 4


def test_masked_dataset_in_processes_writes_what_one_process_writes(tmp_path, monkeypatch):
    from helpers.parallel import processes

    records = _overlay_records(tmp_path / "src", range(10, 14))
    one = overlays.masked_dataset(records, tmp_path / "one", progress=False)
    monkeypatch.setattr(processes, "PARALLEL_FROM", 1)  # two spawned processes, even for four images
    two = overlays.masked_dataset(records, tmp_path / "two", progress=False)
    assert [Path(p).name for p in one["path"]] == [Path(p).name for p in two["path"]]
    assert list(one["overlay_share"]) == list(two["overlay_share"])
    assert all(Path(a).read_bytes() == Path(b).read_bytes() for a, b in zip(one["path"], two["path"]))


def test_the_kept_process_pool_outlives_an_interrupt_quietly():
    """Kernel interrupts and shutdowns signal the whole process group: the kept workers ignore
    SIGINT (before, each idle worker died printing a KeyboardInterrupt traceback)."""
    import os
    import signal
    import time

    from helpers.parallel import Backend, processes

    # the pool notebook 09's runs use (helpers.pitfalls.runs), with one worker: what is tested
    # is the same for each
    pool = processes.pool(Backend("processes", workers=1, threads=1, keep=True))
    try:
        assert pool.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN
        pids = set(pool._processes)
        for pid in pids:
            os.kill(pid, signal.SIGINT)
        time.sleep(0.5)
        assert pool.submit(abs, -3).result() == 3 and set(pool._processes) == pids
    finally:
        processes.forget()


def test_masking_benchmark_runs_and_checks_its_files(run_benchmark):
    code, out = run_benchmark("overlay_masking", "--n", "6", "--profile", "smoke")
    assert code == 0
    assert "ratio" in out and "identical files: True" in out


def test_notebook_09_quotes_the_published_gains_notebook_08_shows():
    """The introduction's range of published gains is the range of the studies' own numbers."""
    from pathlib import Path

    import nbformat

    from helpers.classify import published

    df = published.published(metric="accuracy")
    gains = [v - part.loc[part["setting"] == "real", "value"].iloc[0]
             for _, part in df.groupby(["study", "data", "model"]) for v in part.loc[part["setting"].str.contains("syn"),
                                                                                      "value"]]
    gains = [g for g in gains if g > 0]
    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "09_pitfalls.ipynb", as_version=4)
    intro = " ".join(nb.cells[0].source.split())
    assert f"range from {100 * min(gains):.1f} to {100 * max(gains):.0f} accuracy points" in intro
