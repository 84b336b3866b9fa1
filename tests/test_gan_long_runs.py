"""The long GAN runs shipped beside the quick ones (helpers.gan.long_runs): packed in half
precision with their command and checksum, loaded back to the same generator, refused when
changed, and the shipped set small and made with the `long` variant of the quick presets."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.errors import CheckpointError
from helpers.gan import long_runs
from helpers.gan.core import load_generator, sample
from helpers.gan.pipeline import train_run
from helpers.gan.presets import LONG, get_preset


def _trained(kind, cfg, run_dir):
    data = np.random.default_rng(0).integers(0, 256, (12, 32, 32), dtype=np.uint8)
    if kind == "cwgan":
        train_run(kind, (data, np.arange(12) % 3), cfg, run_dir, steps=4, progress=False, n_classes=3)
    else:
        train_run(kind, data, cfg, run_dir, steps=4, progress=False)
    return run_dir


@pytest.mark.parametrize("kind", ["wgan-gp", "cwgan"])
def test_a_packed_generator_draws_what_the_trained_one_draws(kind, smoke_cfg, tmp_path):
    run = _trained(kind, smoke_cfg, tmp_path / "run")
    folder = tmp_path / "assets"
    classes = ["benign", "normal", "malignant"] if kind == "cwgan" else []
    e = long_runs.pack(run, f"{kind}-phantom/all", "phantom", "python -m helpers train ...", 12.0, classes, folder)
    assert e["steps"] == 4 and e["settings"]["kind"] == kind and e["classes"] == classes
    assert e["sha256"] == long_runs._sha256(folder / e["file"])
    saved = torch.load(folder / e["file"], weights_only=True)
    assert all(v.dtype == torch.float16 for v in saved["generator"].values() if v.is_floating_point())
    G = long_runs.load(f"{kind}-phantom/all", folder)
    ref = load_generator(run)
    label = 1 if kind == "cwgan" else None
    a, b = sample(G, 6, seed=3, label=label), sample(ref, 6, seed=3, label=label)
    assert a.shape == b.shape and (a - b).abs().max() < 0.02  # half-precision weights, same images


def test_a_changed_file_is_refused_with_a_one_line_hint(smoke_cfg, tmp_path):
    run = _trained("wgan", smoke_cfg, tmp_path / "run")
    folder = tmp_path / "assets"
    e = long_runs.pack(run, "wgan-phantom/benign", "phantom", "cmd", None, None, folder)
    with open(folder / e["file"], "ab") as f:
        f.write(b"x")
    with pytest.raises(CheckpointError, match="changed.*git checkout"):
        long_runs.load("wgan-phantom/benign", folder)
    with pytest.raises(CheckpointError, match="No long run"):
        long_runs.load("dcgan-phantom/benign", folder)


def test_the_long_variant_trains_longer_with_every_other_setting_kept():
    for kind in ("wgan", "wgan-gp", "dcgan", "cwgan"):
        q, g = get_preset(kind, "quick"), get_preset(kind, "quick", variant="long")
        assert g.steps == LONG * q.steps and g.sample_every == LONG * q.sample_every
        assert {k: v for k, v in g.as_dict().items() if k not in ("steps", "sample_every", "checkpoint_every")} == \
               {k: v for k, v in q.as_dict().items() if k not in ("steps", "sample_every", "checkpoint_every")}


def test_the_shipped_long_runs_are_small_checked_and_from_the_quick_presets():
    shipped = long_runs.manifest()
    assert shipped, "helpers/assets/long_runs ships no manifest"
    assert long_runs.total_bytes() <= 20 * 2**20
    for name, e in shipped.items():
        dataset = "breakhis" if e["dataset"] == "breakhis-standin" else e["dataset"]
        quick = get_preset(e["kind"], "quick", dataset=dataset)
        assert e["steps"] == LONG * quick.steps, name
        assert "--variant long" in e["command"] and "--seed" not in e["command"] and e["cpu_s"] > 0, name
        assert e["sha256"] == long_runs._sha256(long_runs.ASSETS / e["file"]), name
    kinds = {(e["kind"], e["dataset"]) for e in shipped.values()}
    assert {("wgan", "phantom"), ("wgan-gp", "phantom"), ("dcgan", "phantom"), ("cwgan", "phantom")} <= kinds
    x = long_runs.samples("cwgan", "phantom", 64, ["benign", "normal", "malignant"], n=2, seed=0)
    assert list(x) == ["benign", "normal", "malignant"] and x["benign"].shape == (2, 64, 64)
