"""The DDPM study's sweep adds n images of every class, the largest one included."""

from __future__ import annotations

import pandas as pd

from helpers.classify import grid as G
from helpers.classify.data import plain
from helpers.classify.presets import PRESETS
from helpers.prepare import load_prepared


def test_sweep_cells_draw_n_images_of_every_class(smoke_cfg):
    records = plain(load_prepared(smoke_cfg, progress=False, verbose=False))
    train = G.generator_records(records, G.SPLIT)
    exported = G.fold_synthetic(smoke_cfg, "dcgan", G.SPLIT, train, progress=False)
    assert "benign" not in set(pd.read_csv(exported)["class_name"])  # a balancing set: none of the largest
    m = G.per_class_set(smoke_cfg, "dcgan", G.SPLIT, exported, 4, progress=False)
    # DCGAN has models for the minority classes only; a conditional model draws every class
    assert pd.read_csv(m)["class_name"].value_counts().to_dict() == {"normal": 4, "malignant": 4}
    assert (m.parent / "trained_on.csv").read_text() == (exported.parent / "trained_on.csv").read_text()
    cells = G.plan(records, ["tiny"], [G.Setting.parse("real+syn:ddpm@3")], [G.SPLIT], [0])
    res = G.run_grid(smoke_cfg, records, cells, PRESETS["smoke"].with_(epochs=1), progress=False)
    row = res[res["setting"] == "real+syn:ddpm@3"].iloc[0]
    assert row["n_train_synth"] == 9  # 3 of each of the three classes
    assert (smoke_cfg.runs_dir / "synthetic" / "ddpm-per-class" / "manifest.csv").exists()
