"""The smoke-profile outputs that a refactoring must not move, captured and compared.

`capture(runs_dir, data_dir)` runs, through the command line and in one runs folder, what the
course's result tables come from: `classify` (real, +trad and +synthetic settings, the DCGAN
trained on the split's train part), `pitfalls` (every measurement of notebook 09),
`ddpm-study` (scenarios 0 and 5) and `quality` (the sets the runs above made). It returns their
tables with machine-specific columns (seconds, threads, absolute paths) normalised away.

    python tests/golden/capture.py --write    # after a change that is meant to move the numbers

writes them as the fixtures beside this file, which tests/test_golden.py compares against.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
TIMING = {"seconds", "threads", "device", "time_s", "sec_per_image", "seconds_per_image"}


def _commands(data_dir: Path, runs_dir: Path) -> list[list[str]]:
    common = ["--profile", "smoke", "--dataset", "phantom", "--data-dir", str(data_dir), "--runs-dir", str(runs_dir),
              "--threads", "1"]
    return [["classify", *common, "--generators", "dcgan", "--settings", "real,real+trad,real+syn:dcgan"],
            ["pitfalls", *common],
            ["ddpm-study", *common, "--scenarios", "0,5"],
            ["quality", *common[:-2]]]


def _plain(df: pd.DataFrame, roots: list[Path]) -> pd.DataFrame:
    """The table without timing columns, every absolute path made relative to its run/data root."""
    df = df.drop(columns=[c for c in df.columns if c in TIMING], errors="ignore").copy()
    for c in df.columns:
        if not pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            s = df[c].astype(str)
            for i, root in enumerate(roots):
                s = s.str.replace(str(root.resolve()), f"<root{i}>", regex=False).str.replace(str(root), f"<root{i}>",
                                                                                             regex=False)
            df[c] = s.where(df[c].notna(), None)
    return df.reset_index(drop=True)


def outputs(runs_dir: Path, data_dir: Path) -> dict[str, pd.DataFrame]:
    """The tables the commands wrote, normalised (see `_plain`)."""
    runs_dir, data_dir = Path(runs_dir), Path(data_dir)
    roots = [runs_dir, data_dir]
    found = {
        "classify_results": runs_dir / "classify" / "results.csv",
        "pitfalls_closing_table": runs_dir / "pitfalls" / "closing_table.csv",
        "pitfalls_preds": runs_dir / "pitfalls" / "preds.csv",
        "ddpm_study_table": runs_dir / "ddpm_study" / "table.csv",
        "ddpm_study_preds": runs_dir / "ddpm_study" / "preds.csv",
        "quality": runs_dir / "quality" / "quality.csv",
    }
    out = {name: _plain(pd.read_csv(path), roots) for name, path in found.items()}
    out["classify_results"] = out["classify_results"].sort_values("run").reset_index(drop=True)
    for run_preds in sorted((runs_dir / "classify" / "runs").glob("*/preds.csv")):
        name = "classify_preds_" + run_preds.parent.name.replace("|", "_")
        out[name] = _plain(pd.read_csv(run_preds), roots)
    return out


def capture(runs_dir: Path, data_dir: Path) -> dict[str, pd.DataFrame]:
    from helpers.cli import main

    for args in _commands(data_dir, runs_dir):
        rc = main(args)
        if rc != 0:
            raise RuntimeError(f"`python -m helpers {' '.join(args)}` exited {rc}")
    return outputs(runs_dir, data_dir)


def smoke_phantom(folder: Path) -> Path:
    from helpers.config import PROFILE_DATA
    from helpers.data.phantom_folder import ensure_phantom

    smoke = PROFILE_DATA["smoke"]
    ensure_phantom(folder, smoke.phantom_counts, seed=0, size=smoke.phantom_size, progress=False)
    return folder


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", action="store_true", help="write the fixtures beside this file")
    args = p.parse_args(argv)
    import os

    import torch

    os.environ.setdefault("COURSE_DEVICE", "cpu")
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data = smoke_phantom(Path(tmp) / "phantom")
        tables = capture(Path(tmp) / "runs", data)
    for name, df in tables.items():
        print(f"{name}: {df.shape}")
        if args.write:
            df.to_csv(HERE / f"{name}.csv", index=False)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[1]))
    sys.exit(main())
