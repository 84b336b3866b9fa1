"""The record table every source yields: one row per image.

Columns: `path | label | class_name | group | source` (+ `split`, `fold` once assigned).
`group` is the near-duplicate group id: images in one group must never be on both sides
of a split. A label is the class's position in its dataset's class list (`Config.classes`,
from `helpers.data.registry`; BUSI and the phantom follow the WGAN study: benign = 0,
normal = 1, malignant = 2).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.errors import DataError  # noqa: F401  (re-exported: most modules import it from here)

RECORD_COLUMNS = ["path", "label", "class_name", "group", "source"]


def make_records(rows: list[dict], source: str, classes, skipped=None, root=None) -> pd.DataFrame:
    """Build a record table from dicts with at least `path` and `class_name`; `classes` are
    the source's class names in label order. A reader passes the files it `skipped` (said
    here, kept in `df.attrs`) and the `root` it read."""
    names = list(classes)
    df = pd.DataFrame(rows)
    if df.empty:
        raise DataError(f"No images found for source {source!r}.")
    df["label"] = df["class_name"].map({c: i for i, c in enumerate(names)}).astype(int)
    df["source"] = source
    if "group" not in df:
        df["group"] = range(len(df))  # every image its own group until duplicates are found
    df = df.sort_values(["label", "path"], key=_natural_key).reset_index(drop=True)
    extra = [c for c in df.columns if c not in RECORD_COLUMNS]
    df = df[RECORD_COLUMNS + extra]
    if root is not None:
        df.attrs.update(skipped=list(skipped or ()), root=str(root))
    if skipped:
        print(f"Skipped {len(skipped)} missing or unreadable file(s), e.g. {skipped[0]}")
    return df


def _natural_key(col: pd.Series) -> pd.Series:
    # "benign (10).png" after "benign (9).png": sort by zero-padded numbers.
    if pd.api.types.is_string_dtype(col):
        return col.str.replace(r"\d+", lambda m: m.group(0).zfill(8), regex=True)
    return col


def validate_records(df: pd.DataFrame, where: str = "the record table", *, classes) -> None:
    """Refuse a table a stage cannot use: missing columns, or a row whose class is not one
    of `classes` (the run's, `cfg.classes`) or whose label is not that class's position (a
    label of 3 would otherwise crash training far from here; a wrong name would be trained
    on silently)."""
    missing = [c for c in RECORD_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(f"{where} lacks columns {missing}; rebuild it with `python -m helpers prepare`.")
    names = list(classes)
    for i, row in enumerate(df[["path", "label", "class_name", "source"]].itertuples(index=False)):
        if row.class_name not in names:
            raise DataError(f"{where}, row {i + 1} ({row.path}): class {row.class_name!r} is not a class of "
                            f"{row.source} ({', '.join(names)}). Fix or remove the row, or rebuild the table "
                            "with `python -m helpers prepare`.")
        try:
            label = float(row.label)
        except (TypeError, ValueError):
            label = float("nan")
        if label != names.index(row.class_name):
            raise DataError(f"{where}, row {i + 1} ({row.path}): label {row.label!r} does not match class "
                            f"{row.class_name!r}, whose label is {names.index(row.class_name)} "
                            f"({', '.join(f'{n}={k}' for k, n in enumerate(names))}). Fix the row, or rebuild "
                            "the table with `python -m helpers prepare`.")


def class_counts(df: pd.DataFrame) -> dict:
    return df["class_name"].value_counts().to_dict()


def read_records(path: str | Path, classes) -> pd.DataFrame:
    """The record table at `path`, checked against `classes` (see `validate_records`)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"No record table at {path}. Run `python -m helpers prepare ...` "
                        "(or the preprocessing notebook) first.")
    df = pd.read_csv(path)
    validate_records(df, where=str(path), classes=classes)
    return df


def write_records(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    df.to_csv(tmp, index=False)
    tmp.replace(path)
    return path
