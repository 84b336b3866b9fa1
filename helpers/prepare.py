"""The data stage: records -> near-duplicate groups -> grouped splits and folds, on disk.

`prepare(cfg)` writes `RUNS/data/records.csv` (path, label, class_name, group, source,
split, fold, ...) and `RUNS/data/duplicates.json`. `load_prepared(cfg)` returns that table,
rebuilding it when it was made for another dataset, folder or setting.
"""

from __future__ import annotations

import json

import pandas as pd

from helpers.data.duplicates import find_groups, thumbnails
from helpers.data.records import read_records, write_records
from helpers.data.registry import data_signature, ensure_dataset, load_records
from helpers.data.splits import assert_grouped, grouped_folds, grouped_split


def _meta(cfg) -> dict:
    return dict(dataset=cfg.dataset, data_dir=str(cfg.data_dir.resolve()), seed=cfg.seed, n_folds=cfg.n_folds,
                val_frac=cfg.val_frac, test_frac=cfg.test_frac, dup_threshold=cfg.dup_threshold,
                data=data_signature(cfg.data_dir))


def prepare(cfg, skip_bad: bool = False, progress: bool = True, verbose: bool = True) -> pd.DataFrame:
    ensure_dataset(cfg, progress=progress)
    records = load_records(cfg.dataset, cfg.data_dir, skip_bad=skip_bad, progress=progress)
    skipped, root = records.attrs.get("skipped", []), records.attrs.get("root", cfg.data_dir)
    records.attrs.clear()  # plain table: attrs would make every later pd.concat compare them
    thumbs = thumbnails(records, cfg.cache_dir, progress=progress)
    records, report = find_groups(records, thumbs, cfg.dup_threshold)
    records["split"] = grouped_split(records, cfg.val_frac, cfg.test_frac, seed=cfg.seed)
    records["fold"] = grouped_folds(records, cfg.n_folds, seed=cfg.seed)
    assert_grouped(records, "split")
    assert_grouped(records, "fold")
    out = cfg.stage_dir("data")
    write_records(records, out / "records.csv")
    (out / "duplicates.json").write_text(json.dumps(report.as_dict(), indent=1, default=str))
    (out / "meta.json").write_text(json.dumps(dict(_meta(cfg), skipped=skipped), indent=1))
    if verbose:
        counts = records["class_name"].value_counts().to_dict()
        print(f"{len(records)} images {counts} from {root}")
        print(report.summary())
        for r in report.cross_class_pairs.itertuples():
            print(f"  across classes: {r.path_i} ({r.class_i}) ~ {r.path_j} ({r.class_j}), r={r.corr:.3f}")
        parts = records["split"].value_counts().to_dict()
        print(f"split {parts}; {cfg.n_folds} grouped folds; no group straddles two parts")
        if skipped:
            print(f"skipped {len(skipped)} unreadable file(s)")
        print(f"wrote {out / 'records.csv'}")
    return records


def load_prepared(cfg, progress: bool = True, verbose: bool = True) -> pd.DataFrame:
    """The prepared record table for cfg, rebuilt if missing or made for other settings or data."""
    ensure_dataset(cfg, progress=progress)  # a phantom folder is (re)made first; cheap when current
    meta_path = cfg.runs_dir / "data" / "meta.json"
    if cfg.records_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        meta.pop("skipped", None)
        if meta == _meta(cfg):
            records = read_records(cfg.records_path, cfg.classes, cfg.data_dir)
            assert_grouped(records, "split")  # a group edited onto both sides of a split
            assert_grouped(records, "fold")
            return records
    return prepare(cfg, progress=progress, verbose=verbose)
