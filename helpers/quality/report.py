"""Every quality measure for every synthetic set, in one per-generator, per-class table.

Reference images: the real *training* split, because that is what every generator was
trained on (a generator is judged against the distribution it was shown). Held-out real
images (val + test) serve where "new real images" are needed: to calibrate the
memorisation threshold (val + test) and as the test set of train-on-synthetic (test only).

The first rows (generator `real`) are the yardstick: half of the training images against
the other half (FID, KID, precision, recall), the share of held-out real images flagged as
"memorised" (about 1 - quantile by construction) and a classifier trained on real images.

Train on synthetic, test on real (TSTR): does a generator's output teach a classifier anything
that holds on real images? A small CNN (the feature extractor's SmallCNN) is trained on a
synthetic set alone and tested on the real *test* split, which no generator has seen. The same
classifier trained on the real training images (TRTR) is the reference: a TSTR accuracy close
to it means the synthetic images carry the class information of the real ones. Runs are
cached and resumable under `RUNS/quality/tstr/<key>/`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import parallel
from helpers.data.preprocess import load_images
from helpers.data.records import DataError
from helpers.generators import train_and_export
from helpers.parallel import Job, task
from helpers.quality import memorisation as mem
from helpers.quality.cnn import CNNExtractor
from helpers.quality.features import get_extractor, prepare_domain_classifier
from helpers.quality.metrics import halves, protocol_scores
from helpers.quality.presets import preset
from helpers.synth import find_manifests, read_manifest, read_trained_on

COLUMNS = ["generator", "class_name", "n_synthetic", "n_ref", "n_compared", "fid", "fid_sd", "fid_real",
           "kid", "kid_sd", "kid_real", "precision", "precision_real", "recall", "recall_real", "memorised",
           "tstr", "tstr_real", "tstr_balanced"]


@dataclass
class QualityReport:
    """The table plus what the notebook's figures need (images, nearest neighbours)."""

    table: pd.DataFrame
    threshold: float
    heldout_scores: np.ndarray
    extractor: str
    train_images: np.ndarray = field(repr=False)
    train_labels: np.ndarray = field(repr=False)
    sets: dict = field(default_factory=dict, repr=False)  # generator -> dict(images, labels, memorisation)
    csv: Path | None = None


def load_set(manifest, size: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A synthetic set's manifest and its images at `size` px (read only through the manifest)."""
    df = read_manifest(manifest)
    return df, load_images(df, size, None, progress=False)


def _heldout_seen(manifest, heldout: pd.DataFrame) -> int:
    """How many held-out (val/test) images the set's generator was trained on (0 if unknown)."""
    try:
        seen = read_trained_on(manifest)
    except DataError:  # a set without trained_on.csv: nothing to check
        return 0
    return len(seen & {str(Path(p).resolve()) for p in heldout["path"]})


def key(images: np.ndarray, labels: np.ndarray, **settings) -> str:
    """A short hash of the training data and settings: another set gets another run folder."""
    h = hashlib.sha1(repr(sorted(settings.items())).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:12]


def prepare_train_test(train_images: np.ndarray, train_labels, test_images: np.ndarray, test_labels,
                       run_root: str | Path, steps: int, n_classes: int, classes: dict, width: int = 16,
                       dim: int = 64, batch: int = 32, seed: int = 0, device: str = "cpu", progress: bool = True,
                       desc: str = "tstr") -> Callable[[], pd.DataFrame]:
    """A classifier on (train_images, train_labels), built here, not trained yet (see
    helpers.quality.features.prepare_domain_classifier): the call that trains it and tests it on
    the real test images. That returns one row per class (its recall on the real test images)
    and 'all' (accuracy, and balanced accuracy)."""
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    run_dir = Path(run_root) / key(train_images, train_labels, steps=None, schedule="cosine", width=width,
                                   dim=dim, batch=batch, seed=seed, n_classes=n_classes)
    train = prepare_domain_classifier(train_images, train_labels, run_dir, steps, width=width, dim=dim, batch=batch,
                                      n_classes=n_classes, seed=seed, device=device, progress=progress, desc=desc)
    return lambda: _test(train(), test_images, test_labels, classes, device)


def _test(model, test_images: np.ndarray, test_labels: np.ndarray, classes: dict, device: str) -> pd.DataFrame:
    pred = CNNExtractor(model, device).predict(test_images)
    rows, recalls = [], []
    for lab, name in classes.items():
        m = test_labels == lab
        rec = float((pred[m] == lab).mean()) if m.any() else np.nan
        recalls.append(rec)
        rows.append(dict(class_name=name, tstr=rec, n_test=int(m.sum())))
    rows.append(dict(class_name="all", tstr=float((pred == test_labels).mean()), n_test=len(test_labels),
                     tstr_balanced=float(np.nanmean(recalls))))
    return pd.DataFrame(rows)


def score_sets(cfg, records: pd.DataFrame, manifests: dict, extractor=None, kind: str = "domain",
               weights=None, progress: bool = True, out_dir: str | Path | None = None,
               verbose: bool = True) -> QualityReport:
    """Score each synthetic set in `manifests` ({generator: manifest path}) against the real
    training images of `records`; writes `<out_dir or RUNS/quality>/quality.csv`."""
    p = preset(cfg)
    classes = dict(enumerate(cfg.classes))
    out_dir = Path(out_dir) if out_dir else cfg.stage_dir("quality")
    out_dir.mkdir(parents=True, exist_ok=True)
    train = records[records["split"] == "train"].reset_index(drop=True)
    heldout = records[records["split"] != "train"].reset_index(drop=True)
    test = records[records["split"] == "test"].reset_index(drop=True)
    if extractor is None:
        extractor = get_extractor(cfg, records, kind, weights, progress=progress)

    x_train = load_images(train, cfg.size, cfg.cache_dir, progress=progress)
    y_train = train["label"].to_numpy()
    x_test = load_images(test, cfg.size, cfg.cache_dir, progress=progress)
    f_train = extractor(x_train)
    splits = halves(y_train, p.repeats, cfg.seed)
    score_kw = dict(k=p.pr_k, kid_subsets=p.kid_subsets, seed=cfg.seed)

    # memorisation: images at working size (at most 64 px), see helpers.quality.memorisation
    work = min(cfg.size, mem.WORK_SIZE)
    # grey (channels=1) for a colour source too: a copy is found by its layout, in one cache
    thumb = lambda df: load_images(df, work, cfg.cache_dir, progress=False, resample="bilinear",  # noqa: E731
                                   channels=1)
    t_train = thumb(train)

    tstr_kw = dict(steps=p.tstr_steps, n_classes=len(classes), classes=classes, width=p.extractor_width,
                   dim=p.extractor_dim, batch=p.tstr_batch, seed=cfg.seed, device=cfg.device,
                   progress=progress)
    run_root = cfg.runs_dir / "quality" / "tstr"
    loaded = {}
    for gen, manifest in manifests.items():
        loaded[gen] = load_set(manifest, cfg.size)
        leaked = _heldout_seen(manifest, heldout)
        if leaked and verbose:
            print(f"warning: {gen} was trained on {leaked} image(s) of the val/test split (a fold's set, or a "
                  "leak). It is still scored against the training split, but its memorisation and TSTR "
                  "numbers are not comparable with the others'.")

    def tstr(x, y, desc):  # built here, trained in a thread (helpers.parallel)
        return Job(prepare_train_test, (x, y, x_test, test["label"], run_root), dict(desc=desc, **tstr_kw),
                   prepared=True)

    def scores(df, x_syn):  # this set's features, FID/KID/precision/recall and nearest training images
        sc = protocol_scores(f_train, y_train, splits, classes, extractor(x_syn), df["label"].to_numpy(), **score_kw)
        return sc.set_index("class_name"), mem.check(thumb(df), t_train, np.inf)  # flagged below

    # Independent jobs, side by side on a CPU (helpers.parallel): the trainings first (the long
    # ones), then the numpy work that fills the gaps; the same numbers as one after another.
    data = {"real": (x_train, y_train)} | {gen: (x, df["label"].to_numpy()) for gen, (df, x) in loaded.items()}
    owner = {}  # one training per distinct set: two names for the same images share a run folder
    same = {gen: owner.setdefault(key(*xy), gen) for gen, xy in data.items()}
    jobs = {("tstr", gen): tstr(*data[gen], f"tstr: {gen}") for gen in dict.fromkeys(same.values())}
    jobs[("scores", "real")] = task(protocol_scores, f_train, y_train, splits, classes, **score_kw)
    jobs[("threshold", "real")] = task(lambda: mem.calibrate(thumb(heldout), t_train, p.calib_quantile))
    jobs |= {("scores", gen): task(scores, df, x_syn) for gen, (df, x_syn) in loaded.items()}
    done = parallel.run(jobs, parallel.side_by_side(len(jobs), cfg.device))
    done |= {k: v.set_index("class_name") for k, v in done.items() if k[0] == "tstr"}
    base, real_t = done[("scores", "real")].set_index("class_name"), done[("tstr", same["real"])]
    threshold, held_scores = done[("threshold", "real")]
    held_flag = pd.Series(held_scores > threshold).groupby(heldout["label"].map(classes)).mean()

    def _row(gen, name, sc, n_syn, memorised, tt):
        b = base.loc[name]
        return dict(generator=gen, class_name=name, n_synthetic=n_syn, n_ref=int(b["n_ref"]),
                    n_compared=int(sc["n_compared"]), fid=sc["fid"], fid_sd=sc["fid_sd"], fid_real=b["fid"],
                    kid=sc["kid"], kid_sd=sc["kid_sd"], kid_real=b["kid"], precision=sc["precision"],
                    precision_real=b["precision"], recall=sc["recall"], recall_real=b["recall"],
                    memorised=memorised, tstr=tt["tstr"], tstr_real=real_t.loc[name, "tstr"],
                    tstr_balanced=tt.get("tstr_balanced", np.nan))

    rows = []
    for name in [*classes.values(), "all"]:
        flagged = float((held_scores > threshold).mean()) if name == "all" else float(held_flag.get(name, np.nan))
        n_held = int((heldout["label"].map(classes) == name).sum()) if name != "all" else len(heldout)
        rows.append(_row("real", name, base.loc[name], n_held, flagged, real_t.loc[name]))

    sets = {}
    for gen, (df, x_syn) in loaded.items():
        y_syn, tt = df["label"].to_numpy(), done[("tstr", same[gen])]
        sc, m = done[("scores", gen)]
        m = m.at(threshold)
        m.table["label"] = y_syn
        m.table.assign(path=df["path"].to_numpy(), nearest_path=train["path"].to_numpy()[m.table["nearest"]]).to_csv(
            out_dir / f"memorisation_{gen}.csv", index=False)
        for name in [*classes.values(), "all"]:
            sel = m.table["flagged"] if name == "all" else m.table.loc[m.table["label"].map(classes) == name, "flagged"]
            n_syn = len(df) if name == "all" else int((df["class_name"] == name).sum())
            rows.append(_row(gen, name, sc.loc[name], n_syn, float(sel.mean()) if len(sel) else np.nan, tt.loc[name]))
        sets[gen] = dict(images=x_syn, labels=y_syn, memorisation=m, manifest=Path(manifests[gen]))

    table = pd.DataFrame(rows, columns=COLUMNS)
    csv = out_dir / "quality.csv"
    table.to_csv(csv, index=False)
    info = dict(extractor=extractor.name, feature_dim=int(getattr(extractor, "dim", 0)), threshold=threshold,
                calib_quantile=p.calib_quantile, repeats=p.repeats, size=cfg.size,
                sets={g: str(v) for g, v in manifests.items()})
    (out_dir / "quality.json").write_text(json.dumps(info, indent=1))
    if verbose:
        print(f"memorisation threshold (quantile {p.calib_quantile} of {len(heldout)} held-out images): "
              f"corr > {threshold:.3f}")
        print(f"wrote {csv}")
    return QualityReport(table, threshold, held_scores, extractor.name, x_train, y_train, sets, csv)


def summary(table: pd.DataFrame, class_name: str = "all") -> pd.DataFrame:
    """A readable view: one row per generator, each metric beside its real-vs-real value."""
    t = table[table["class_name"] == class_name].set_index("generator")
    out = pd.DataFrame(index=t.index)
    out["n"] = t["n_synthetic"]
    out["FID (real)"] = [f"{a:.2f} ({b:.2f})" for a, b in zip(t["fid"], t["fid_real"])]
    out["KID x1e3 (real)"] = [f"{1e3 * a:.1f} ({1e3 * b:.1f})" for a, b in zip(t["kid"], t["kid_real"])]
    out["precision"] = t["precision"].round(2)
    out["recall"] = t["recall"].round(2)
    out["memorised"] = t["memorised"].map(lambda v: f"{100 * v:.0f}%")
    out["TSTR"] = t["tstr"].round(2)
    return out


def ensure_sets(cfg, generators, progress: bool = True) -> dict:
    """{generator: manifest} for `generators`: an existing set under RUNS/synthetic/ is reused,
    a missing one is trained and exported at the profile's budget
    (`helpers.generators.train_and_export`). A generator whose code cannot be imported is
    skipped with a message, so the other sets are still scored."""
    found = find_manifests(cfg.runs_dir)
    out = {}
    for name in generators:
        if name in found:
            print(f"{name}: using {found[name]}")
            out[name] = found[name]
            continue
        t0 = time.perf_counter()
        try:
            out[name] = train_and_export(name, cfg, progress=progress)
        except ImportError as e:
            print(f"{name}: SKIPPED, its code is not available ({e}).")
            continue
        print(f"{name}: trained and exported in {time.perf_counter() - t0:.0f} s -> {out[name]}")
    return out
