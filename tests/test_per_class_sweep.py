"""The DDPM study's sweep adds n images of every class, the largest one included."""

from __future__ import annotations

import pandas as pd

from helpers.classify.data import plain
from helpers.classify.grid import run_grid
from helpers.classify.presets import PRESETS
from helpers.classify.settings import SPLIT, Setting, generator_records, plan
from helpers.classify.synthetic import fold_synthetic, per_class_set
from helpers.prepare import load_prepared


def test_sweep_runs_draw_n_images_of_every_class(smoke_cfg):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    train = generator_records(records, SPLIT)
    exported = fold_synthetic(smoke_cfg, "dcgan", SPLIT, train, progress=False)
    assert "benign" not in set(pd.read_csv(exported)["class_name"])  # a balancing set: none of the largest
    m = per_class_set(smoke_cfg, "dcgan", SPLIT, exported, 4, progress=False)
    # DCGAN has models for the minority classes only; a conditional model draws every class
    assert pd.read_csv(m)["class_name"].value_counts().to_dict() == {"normal": 4, "malignant": 4}
    assert (m.parent / "trained_on.csv").read_text() == (exported.parent / "trained_on.csv").read_text()
    runs = plan(records, ["tiny"], [Setting.parse("real+syn:ddpm@3")], [SPLIT], [0])
    res = run_grid(smoke_cfg, records, runs, PRESETS["smoke"].with_(epochs=1), progress=False)
    row = res[res["setting"] == "real+syn:ddpm@3"].iloc[0]
    assert row["n_train_synth"] == 9  # 3 of each of the three classes
    assert (smoke_cfg.runs_dir / "synthetic" / "ddpm-per-class" / "manifest.csv").exists()
