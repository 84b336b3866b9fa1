"""Opt-in (COURSE_BUSI_DIR): the prepare command on the real BUSI images in both layouts."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers.cli import main


def _official_copy(src, dest):
    """Rebuild the official release's layout from the resized copy: varied sizes, RGB-stored
    grayscale, and mask files (`_mask.png`, some `_mask_1.png`) beside each image."""
    rng = np.random.default_rng(0)
    root = dest / "Dataset_BUSI_with_GT"
    for cls_dir in sorted(p for p in src.iterdir() if p.is_dir()):
        out = root / cls_dir.name
        out.mkdir(parents=True)
        for i, p in enumerate(sorted(cls_dir.glob("*.png"))):
            w = int(rng.integers(190, 700))  # the release spans ~190-1050 px; smaller keeps this quick
            h = int(w * rng.uniform(0.7, 1.1))
            img = Image.open(p).convert("L").resize((w, h), Image.Resampling.BICUBIC).convert("RGB")
            img.save(out / p.name)
            mask = Image.new("L", (w, h), 0)
            mask.save(out / f"{p.stem}_mask.png")
            if i % 17 == 0:
                mask.save(out / f"{p.stem}_mask_1.png")


@pytest.mark.busi
def test_prepare_on_official_layout(busi_dir, tmp_path):
    _official_copy(busi_dir, tmp_path / "busi")
    rc = main(["prepare", "--dataset", "busi", "--data-dir", str(tmp_path / "busi"), "--runs-dir", str(tmp_path / "runs")])
    assert rc == 0
    df = pd.read_csv(tmp_path / "runs" / "data" / "records.csv")
    assert len(df) == 780 and not df["path"].str.contains("_mask").any()
    assert df["width"].nunique() > 100  # varied sizes were read
    assert df.groupby("class_name").size().to_dict() == {"benign": 437, "malignant": 210, "normal": 133}
    rep = json.loads((tmp_path / "runs" / "data" / "duplicates.json").read_text())
    assert rep["n_groups"] >= 100 and len(rep["cross_class_pairs"]) >= 5
    assert (df.groupby("group")["split"].nunique() == 1).all()
    assert (df.groupby("group")["fold"].nunique() == 1).all()
