"""Does the phantom behave like BUSI? The measures the course teaches, side by side.

Every number is computed by the same code on both datasets:

- image sizes (notebook 01's histogram);
- near-duplicates: share of images in multi-image groups at thumbnail correlation > 0.97
  (`helpers.data.duplicates`, notebook 02), groups, pairs across classes;
- the overlay shortcut: balanced accuracy of a logistic regression on the saturated-pixel
  fraction alone, 5-fold stratified cross-validation (notebook 01's code);
- gray levels and speckle per class, at 256 x 256: mean, std, and the speckle SNR
  (mean / std) of homogeneous 16 x 16 patches (quadrant means within 15%, mean >= 30);
- the quick classifier (notebook 08's: the grid's quick preset, 64 px, random init) on
  the grouped train/test split, pooled over seeds with a bootstrap CI over near-duplicate
  groups; then trained on half of the real training images (a grouped, stratified half), and
  the paired drop;
- a classifier trained on all phantom images and tested on all BUSI images.

    OMP_NUM_THREADS=1 python benchmarks/phantom_calibration.py --busi /work/shared/data/busi-256
    OMP_NUM_THREADS=1 python benchmarks/phantom_calibration.py --no-classifier   # seconds, not minutes

The phantom is generated (profile's counts and size) into --data-dir unless already there;
classifier runs are cached under --runs-dir (delete it, or pass --fresh, to retrain).
BUSI's path is never required: without --busi only the phantom column is printed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from helpers.errors import DataError

TARGETS = {"quick accuracy": "0.62-0.85", "half-data drop (points)": ">= 5",
           "near-duplicate share": "BUSI +-0.10", "shortcut balanced accuracy": "BUSI +-0.10"}
CLASSES = ("benign", "malignant", "normal")


# -- the phantom ------------------------------------------------------------------------------
def make_phantom_set(data_dir: Path, profile: str, progress: bool) -> float:
    """Generate the profile's phantom set into data_dir (unless it is already that set); seconds.
    The course's own writer: a folder it did not make (real images) is refused, never emptied."""
    from helpers.config import PROFILE_DATA
    from helpers.data.phantom_folder import ensure_phantom

    pd_ = PROFILE_DATA[profile]
    t0 = time.perf_counter()
    wrote = ensure_phantom(data_dir, pd_.phantom_counts, pd_.phantom_size, seed=0, progress=progress)
    return time.perf_counter() - t0 if wrote else 0.0


# -- image statistics -------------------------------------------------------------------------
def patch_snr(a: np.ndarray, k: int = 16, tol: float = 0.15, floor: float = 30) -> np.ndarray:
    """Speckle SNR (mean / std) of the homogeneous k x k patches of a gray image."""
    h, w = a.shape
    p = a[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k).swapaxes(1, 2)
    m, s = p.mean((2, 3)), p.std((2, 3))
    q = p.reshape(h // k, w // k, 2, k // 2, 2, k // 2).mean((3, 5)).reshape(h // k, w // k, 4)
    ok = (np.abs(q - m[..., None]).max(-1) < tol * m) & (m >= floor)
    return (m / np.maximum(s, 1e-6))[ok]


def image_stats(records: pd.DataFrame, progress: bool) -> tuple[dict, pd.DataFrame]:
    """Sizes, saturated fraction (native resolution), gray levels and speckle (at 256 px)."""
    from tqdm.auto import tqdm

    rows = []
    for r in tqdm(records.itertuples(), total=len(records), desc="image statistics", disable=not progress,
                  leave=False):
        with Image.open(r.path) as im:
            g = im.convert("L")
        a = np.asarray(g)
        b = np.asarray(g.resize((256, 256), Image.Resampling.LANCZOS), np.float64)
        snr = patch_snr(b)
        rows.append(dict(class_name=r.class_name, width=a.shape[1], height=a.shape[0],
                         saturated=(a >= 250).mean(), mean=b.mean(), std=b.std(), snr=snr))
    df = pd.DataFrame(rows)
    out = {"width min / mean / max": f"{df.width.min()} / {df.width.mean():.0f} / {df.width.max()}",
           "height min / mean / max": f"{df.height.min()} / {df.height.mean():.0f} / {df.height.max()}",
           "aspect (h/w) 5-95%": "{:.2f}-{:.2f}".format(*np.percentile(df.height / df.width, [5, 95]))}
    for c in CLASSES:
        d = df[df.class_name == c]
        snr = np.concatenate(list(d.snr)) if len(d) else np.array([np.nan])
        out[f"{c}: mean / std gray"] = f"{d['mean'].mean():.1f} / {d['std'].mean():.1f}"
        out[f"{c}: speckle SNR mean / sd"] = f"{snr.mean():.2f} / {snr.std():.2f}"
        out[f"{c}: images with saturated pixels"] = f"{(d.saturated > 0).mean():.2f}"
    return out, df


def shortcut(records: pd.DataFrame, saturated: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Balanced accuracy of the saturated fraction alone, 5-fold CV (the calibration's shortcut measure)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    y = records["label"].to_numpy()
    cv = StratifiedKFold(n_splits=min(5, records["class_name"].value_counts().min()), shuffle=True, random_state=seed)
    s = cross_val_score(LogisticRegression(class_weight="balanced"), np.log1p(1e4 * saturated)[:, None], y, cv=cv,
                        scoring="balanced_accuracy")
    return float(s.mean()), float(s.std())


def duplicates(records: pd.DataFrame, threshold: float = 0.97):
    from helpers.data.duplicates import find_groups, thumbnails

    return find_groups(records, thumbnails(records, progress=False), threshold)


# -- classifiers ------------------------------------------------------------------------------
def half_of_training(records: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The records with a grouped, class-stratified half of the training images removed."""
    from sklearn.model_selection import StratifiedGroupKFold

    train = np.flatnonzero(records["split"].to_numpy() != "test")
    sgkf = StratifiedGroupKFold(n_splits=2, shuffle=True, random_state=seed)
    _, keep = next(sgkf.split(train, records["label"].to_numpy()[train], records["group"].to_numpy()[train]))
    drop = np.setdiff1d(train, train[keep])
    return records.drop(index=records.index[drop]).reset_index(drop=True)


def run_classifiers(cfg, records, name: str, seeds, out: Path, fresh: bool, progress: bool = True) -> pd.DataFrame:
    """Train notebook 08's quick classifier on the split once per seed; the pooled predictions."""
    from tqdm.auto import tqdm

    from helpers.classify.grid import train_run
    from helpers.classify.presets import PRESETS
    from helpers.classify.settings import SPLIT, Setting

    preset = PRESETS["quick"]
    parts = []
    for seed in tqdm(seeds, desc=f"{cfg.dataset} classifier, {name}", unit="seed", disable=not progress, leave=False):
        folder = out / f"{name}-seed{seed}"
        preds = folder / "preds.csv"
        if fresh or not preds.exists():
            shutil.rmtree(folder, ignore_errors=True)
            train_run(cfg, preset.archs[0], Setting("real"), SPLIT, seed, records, preset, folder, None,
                      pretrained=False)
        parts.append(pd.read_csv(preds))
    return pd.concat(parts, ignore_index=True)


def accuracy_ci(preds: pd.DataFrame, classes) -> dict:
    from helpers.classify.metrics import bootstrap

    proba = preds[[f"p_{c}" for c in classes]].to_numpy()
    ci = bootstrap(preds["label"], proba, classes, 1000, 0, groups=preds["group"]).set_index("metric")
    per_seed = preds.assign(ok=preds["pred"] == preds["label"]).groupby("seed")["ok"].mean()
    return dict(acc=ci.loc["accuracy", "value"], lo=ci.loc["accuracy", "lo"], hi=ci.loc["accuracy", "hi"],
                f1=ci.loc["f1_macro", "value"], per_seed=per_seed.round(3).tolist())


def paired_drop(full: pd.DataFrame, half: pd.DataFrame, classes) -> dict:
    from helpers.classify.metrics import paired_difference

    m = full.merge(half, on=["path", "seed"], suffixes=("_a", "_b"))
    pa = m[[f"p_{c}_a" for c in classes]].to_numpy()
    pb = m[[f"p_{c}_b" for c in classes]].to_numpy()
    d = paired_difference(m["label_a"], pb, pa, classes, 1000, 0, groups=m["group_a"],
                          metrics=["accuracy"]).iloc[0]
    return dict(diff=d["diff"], lo=d["lo"], hi=d["hi"])


def classifier(dataset: str, data_dir: Path, runs: Path, seeds, fresh: bool, progress: bool) -> dict:
    """Quick classifier on the grouped split, full and half training data."""
    from helpers.config import resolve
    from helpers.data.registry import load_records
    from helpers.data.splits import grouped_split

    cfg = resolve("quick", dataset, data_dir, runs, seed=0)
    records = load_records(dataset, data_dir, progress=False)
    records.attrs.clear()
    records, _ = duplicates(records, cfg.dup_threshold)
    records["split"] = grouped_split(records, cfg.val_frac, cfg.test_frac, seed=cfg.seed)
    records["fold"] = 0
    classes = list(cfg.classes)
    full = run_classifiers(cfg, records, "full", seeds, runs / "runs", fresh, progress)
    half = pd.concat([run_classifiers(cfg, half_of_training(records, s), "half", [s], runs / "runs", fresh, progress)
                      for s in seeds], ignore_index=True)
    n_train = int((records["split"] != "test").sum())
    return dict(full=accuracy_ci(full, classes), half=accuracy_ci(half, classes),
                drop=paired_drop(full, half, classes), n_train=n_train,
                n_test=int((records["split"] == "test").sum()), records=records)


def transfer(phantom: pd.DataFrame, busi: pd.DataFrame, runs: Path, busi_dir: Path, fresh: bool,
             progress: bool = True) -> dict:
    """Trained on every phantom image, tested on every BUSI image."""
    from sklearn.metrics import balanced_accuracy_score

    from helpers.config import resolve

    cfg = resolve("quick", "busi", busi_dir, runs, seed=0)
    a = phantom.assign(split="train")
    b = busi.assign(split="test", group=busi["group"] + int(phantom["group"].max()) + 1)
    recs = pd.concat([a, b], ignore_index=True)[["path", "label", "class_name", "group", "source", "split"]]
    recs["fold"] = 0
    preds = run_classifiers(cfg, recs, "phantom-to-busi", [0], runs / "runs", fresh, progress)
    out = accuracy_ci(preds, list(cfg.classes))
    out["balanced"] = balanced_accuracy_score(preds["label"], preds["pred"])
    out["predicted"] = preds["pred"].map(dict(enumerate(cfg.classes))).value_counts().to_dict()
    return out


# -- figures ----------------------------------------------------------------------------------
def figures(phantom: pd.DataFrame, busi: pd.DataFrame | None, out: Path, n: int = 6, seed: int = 0) -> list[Path]:
    """phantom_samples.png (n random phantoms per class, native aspect) and, with BUSI,
    phantom_vs_busi.png (per class a phantom row over a BUSI row, both at 192 x 192 as in
    notebook 01)."""
    import matplotlib

    matplotlib.use("Agg")
    from helpers.data.images import load_gray
    from helpers.plots import class_grid, savefig

    def pick(records, cls):
        part = records[records["class_name"] == cls]
        return part.sample(min(n, len(part)), random_state=seed)

    out.mkdir(parents=True, exist_ok=True)
    rows = {c: [load_gray(p) for p in pick(phantom, c)["path"]] for c in CLASSES}
    paths = [savefig(class_grid(rows, title="phantom: six random images per class", cell=1.8), out, "phantom_samples")]
    if busi is not None:
        rows = {}
        for c in CLASSES:
            rows[f"{c}\nphantom"] = [load_gray(p, 192) for p in pick(phantom, c)["path"]]
            rows[f"{c}\nBUSI"] = [load_gray(p, 192) for p in pick(busi, c)["path"]]
        fig = class_grid(rows, title="phantom vs BUSI, six random images per class (192 x 192)", cell=1.6)
        paths.append(savefig(fig, out, "phantom_vs_busi"))
    return paths


# -- the table --------------------------------------------------------------------------------
def measure(name: str, dataset: str, data_dir: Path, args, runs: Path) -> tuple[dict, dict]:
    from helpers.data.registry import load_records

    t0 = time.perf_counter()
    records = load_records(dataset, data_dir, progress=False)
    records.attrs.clear()
    col, stats = image_stats(records, args.progress)
    counts = records["class_name"].value_counts()
    col = {"images (benign / malignant / normal)": " / ".join(str(counts.get(c, 0)) for c in CLASSES), **col}
    grouped, rep = duplicates(records)
    col["near-duplicate share"] = f"{rep.n_images_in_groups / rep.n_images:.3f}"
    col["near-duplicate groups / pairs / across classes"] = (f"{rep.n_groups} / {rep.n_pairs} / "
                                                            f"{len(rep.cross_class_pairs)}")
    m, s = shortcut(records, stats["saturated"].to_numpy())
    col["shortcut balanced accuracy"] = f"{m:.3f} (sd {s:.3f})"
    raw = dict(dup_share=rep.n_images_in_groups / rep.n_images, shortcut=m, records=grouped)
    if not args.no_classifier:
        c = classifier(dataset, data_dir, runs / "classifiers" / name, args.seeds, args.fresh, args.progress)
        f, h, d = c["full"], c["half"], c["drop"]
        col["quick accuracy"] = (f"{f['acc']:.3f} [{f['lo']:.3f}, {f['hi']:.3f}] seeds {f['per_seed']} "
                                 f"({c['n_train']} train / {c['n_test']} test)")
        col["quick macro F1"] = f"{f['f1']:.3f}"
        col["half-data accuracy"] = f"{h['acc']:.3f} [{h['lo']:.3f}, {h['hi']:.3f}] seeds {h['per_seed']}"
        col["half-data drop (points)"] = f"{100 * d['diff']:.1f} [{100 * d['lo']:.1f}, {100 * d['hi']:.1f}]"
        raw.update(acc=f["acc"], drop=100 * d["diff"])
    col["seconds"] = f"{time.perf_counter() - t0:.0f}"
    return col, raw


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--busi", type=Path, help="a BUSI folder (official layout or resized copy) to compare with")
    p.add_argument("--profile", default="quick", help="phantom counts and size from this profile")
    p.add_argument("--data-dir", type=Path, default=Path("runs/calibration/phantom"))
    p.add_argument("--runs-dir", type=Path, default=Path("runs/calibration"))
    p.add_argument("--seeds", default="0,1,2,3,4", help="classifier seeds (default 0,1,2,3,4)")
    p.add_argument("--no-classifier", action="store_true", help="skip the classifiers (image measures only)")
    p.add_argument("--fresh", action="store_true", help="retrain cached classifier runs")
    p.add_argument("--figures", type=Path, help="also write phantom_samples.png (and phantom_vs_busi.png) here")
    p.add_argument("--quiet", dest="progress", action="store_false", help="no progress bars")
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]

    import torch

    torch.set_num_threads(1)
    t_all = time.perf_counter()
    try:
        gen = make_phantom_set(args.data_dir, args.profile, args.progress)
    except DataError as e:  # a folder the course did not make: say so and touch nothing
        print(f"error: {e}", file=sys.stderr)
        return 2
    if gen:  # new pixels: the cached phantom runs are stale
        shutil.rmtree(args.runs_dir / "classifiers", ignore_errors=True)
    cols, raws = {}, {}
    cols["phantom"], raws["phantom"] = measure("phantom", "phantom", args.data_dir, args, args.runs_dir)
    cols["phantom"]["seconds"] += f" (+{gen:.0f} generating)" if gen else " (set reused)"
    if args.busi:
        cols["BUSI"], raws["BUSI"] = measure("busi", "busi", args.busi, args, args.runs_dir)
        if not args.no_classifier:
            t = transfer(raws["phantom"]["records"], raws["BUSI"]["records"], args.runs_dir / "classifiers" / "transfer",
                         args.busi, args.fresh, args.progress)
            cols["phantom"]["trained on phantom, tested on BUSI"] = (
                f"accuracy {t['acc']:.3f} [{t['lo']:.3f}, {t['hi']:.3f}], balanced {t['balanced']:.3f}, "
                f"predicted {t['predicted']}")
    if args.figures:
        for path in figures(raws["phantom"]["records"], raws["BUSI"]["records"] if args.busi else None, args.figures):
            print(f"wrote {path}")
    table = pd.DataFrame(cols)
    table["target"] = [TARGETS.get(i, "") for i in table.index]
    with pd.option_context("display.max_colwidth", 90, "display.width", 250):
        print(table.fillna("").to_string())
    if args.busi:
        ph, bu = raws["phantom"], raws["BUSI"]
        checks = [("near-duplicate share within 0.10 of BUSI", abs(ph["dup_share"] - bu["dup_share"]) <= 0.10),
                  ("shortcut within 0.10 of BUSI", abs(ph["shortcut"] - bu["shortcut"]) <= 0.10)]
        if "acc" in ph:
            checks += [("quick accuracy in [0.62, 0.85]", 0.62 <= ph["acc"] <= 0.85),
                       ("half-data drop >= 5 points", ph["drop"] >= 5)]
        for what, ok in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {what}")
    print(f"wall time {time.perf_counter() - t_all:.0f} s")
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.runs_dir / "calibration.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
