"""The five measurements of notebook 09, shared by the notebook and `python -m helpers pitfalls`.

1. `near_duplicates`: a random split and grouped folds at several thresholds (K folds each);
2. `generator_and_synthetic_test`: a generator trained on the training part vs one that also
   saw the test images (the DCGAN and WGAN studies), and the same honest model scored on real
   test images vs on a test set that holds 20% of the synthetic images (the DDPM study);
3. `overlays`: the honest folds again on images whose overlays are painted out;
4. `repeats`: the honest folds redrawn, for the spread of one split;
5. `closing_table`: every shortcut beside its honest protocol, with paired intervals.
Every training is a guarded `runs.Job`; nothing is trained twice (the honest folds serve 1, 3
and 4).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.classify.data import TRAIN_COLUMNS, plain, synthetic_rows
from helpers.classify.protocol import content
from helpers.classify.settings import SPLIT, generator_records, parts
from helpers.classify.synthetic import fold_synthetic
from helpers.data.duplicates import correlation_matrix, group_ids, near_duplicate_pairs, thumbnails
from helpers.data.splits import grouped_folds
from helpers.generators import train_and_export
from helpers.pitfalls import overlays as masking
from helpers.pitfalls import splits, tables
from helpers.pitfalls.presets import HONEST_THRESHOLD, STUDIES
from helpers.pitfalls.runs import ImageBank, Job, View, load_model, run_jobs, table_rows
from helpers.pitfalls.synthetic_in_test import scenario_sets
from helpers.prepare import load_prepared

HONEST = f"grouped@{HONEST_THRESHOLD:.2f}"
MASKED = f"{HONEST}, overlays masked"
REAL_TEST, MIXED_TEST, SAW_TEST = ("real test images", "test holds 20% of the synthetic set",
                                   "generator saw the test images")


def load(cfg, progress: bool = True):
    """(prepared records, their 32 px thumbnails, an ImageBank holding every image)."""
    records = plain(load_prepared(cfg, progress=progress, verbose=False))
    thumbs = thumbnails(records, cfg.cache_dir, progress=progress)
    bank = ImageBank(cfg.size, cfg.cache_dir)
    bank.add(records)
    return records, thumbs, bank


def fold_jobs(records: pd.DataFrame, protocol: splits.Protocol, name: str | None = None,
              keep_model_fold: int | None = None, tag: str = "fold") -> list[Job]:
    """One job per fold of `protocol`: train on the other folds, evaluate on this one."""
    r = protocol.records(records)
    jobs = []
    for k in sorted(r["fold"].unique()):
        view = View(name or protocol.name, table_rows(r[r["fold"] == k]), protocol.leak)
        jobs.append(Job(table_rows(r[r["fold"] != k]), [view], seed=protocol.seed, all_records=r,
                        meta=dict(fold=int(k), repeat=protocol.repeat), keep_model=keep_model_fold == k,
                        tag=f"{tag}-{(name or protocol.name).replace(' ', '_').replace(',', '')}"))
    return jobs


def near_duplicates(cfg, preset: dict, records, thumbs, bank=None, progress: bool = True):
    """Predictions of every near-duplicate protocol; returns (preds, protocols, skipped)."""
    protocols, skipped = splits.near_duplicate_protocols(records, thumbs, preset.folds, cfg.seed,
                                                         preset.thresholds)
    jobs = [j for p in protocols for j in fold_jobs(records, p, keep_model_fold=0 if p.name == HONEST else None)]
    return run_jobs(cfg, preset, jobs, bank, progress, desc="near-duplicate protocols"), protocols, skipped


def twins_in_training(protocols, thumbs, thresholds=(0.90, 0.95, HONEST_THRESHOLD)) -> pd.DataFrame:
    """Per protocol, how many images have a near-twin above each threshold in their own
    training part (the other folds): the test questions whose answer was, nearly, seen."""
    rows = {}
    for p in protocols:
        near = splits.nearest_in_training(p.fold, thumbs)
        rows[p.name] = {f"r > {t:.2f}": int((near > t).sum()) for t in sorted(thresholds)}
    return pd.DataFrame(rows).T


def repeats(cfg, preset: dict, records, thumbs, bank=None, progress: bool = True) -> pd.DataFrame:
    """The honest folds drawn preset.repeats times (repeat 0 = the honest protocol above)."""
    reps = splits.repeated(records, thumbs, preset.folds, cfg.seed, preset.repeats)
    jobs = [j for p in reps for j in fold_jobs(records, p, keep_model_fold=0 if p.repeat == 0 else None)]
    return run_jobs(cfg, preset, jobs, bank, progress, desc="repeated grouped folds")


def overlays(cfg, preset: dict, records, thumbs, bank=None, progress: bool = True) -> dict:
    """The honest folds on images as they are and with overlays painted out: dict(as_is, masked
    (predictions), records (masked), protocol (the folds used), new_twins). Painting out text
    can make near-duplicates of frames only their text told apart; when such new twins straddle
    folds, both arms use folds grouped by the twins of either version."""
    masked = masking.masked_dataset(records, cfg.stage_dir("pitfalls", "masked"), progress)
    mthumbs = thumbnails(masked, cfg.cache_dir, progress=progress)
    proto = splits.repeated(records, thumbs, preset.folds, cfg.seed, 1)[0]
    t = HONEST_THRESHOLD
    pairs = near_duplicate_pairs(mthumbs, t)
    group = proto.group.to_numpy()
    new = pairs[group[pairs["i"]] != group[pairs["j"]]].reset_index(drop=True)
    fold = proto.fold.to_numpy()
    if (fold[new["i"]] != fold[new["j"]]).any():
        both = pd.concat([near_duplicate_pairs(thumbs, t), pairs])
        union = pd.Series(group_ids(len(records), both), index=records.index, name="group")
        proto = splits.Protocol(f"{HONEST}, twins of either version", None,
                                grouped_folds(records.assign(group=union.to_numpy()), preset.folds, seed=cfg.seed),
                                union, threshold=t, seed=cfg.seed)
    as_is = run_jobs(cfg, preset, fold_jobs(records, proto, keep_model_fold=0), bank, progress, desc="images as they are")
    m = run_jobs(cfg, preset, fold_jobs(masked, proto, MASKED, keep_model_fold=0, tag="masked"), bank, progress,
                 desc="overlays masked")
    return dict(as_is=as_is, masked=m, records=masked, protocol=proto, new_twins=new)


def generator_steps(cfg, out_name: str) -> dict:
    """{model: generator steps trained} of RUNS/generators/<out_name>/*/history.csv (empty if
    the generator keeps no such history)."""
    out = {}
    for h in sorted((cfg.runs_dir / "generators" / out_name).glob("*/history.csv")):
        try:
            out[h.parent.name] = int(pd.read_csv(h, usecols=["step"])["step"].max())
        except (ValueError, KeyError):
            pass
    return out


def synthetic_sets(cfg, preset: dict, records, progress: bool = True, saw_test: bool = True) -> dict:
    """The generator trained on the split's training part (reused when a generator notebook
    made it) and, unless saw_test=False, the same generator also shown the test images; both
    sets cut to the same size per class and split 80/20."""
    g = preset.generator
    train_part, test = generator_records(records, SPLIT), parts(records, SPLIT)[1]
    honest = fold_synthetic(cfg, g, SPLIT, train_part, progress=progress, steps=preset.gen_steps)
    steps = generator_steps(cfg, g)
    classes = sorted(records["class_name"].unique())
    sh = synthetic_rows(honest, None, classes)
    leaky = sl = l_train = None
    if saw_test:
        leaky = train_and_export(g, cfg, train_records=pd.concat([train_part, test], ignore_index=True),
                                 out_name=f"{g}-saw-test", steps=max(steps.values()) if steps else preset.gen_steps,
                                 progress=progress)
        sl = synthetic_rows(leaky, None, classes)
    # Both sets the same size per class, so the two generators' protocols add alike.
    sets = [sh] + ([sl] if sl is not None else [])
    n = {c: int(min((d["class_name"] == c).sum() for d in sets)) for c in classes}
    h_train, h_test = scenario_sets(sh, n, preset.syn_test_frac, cfg.seed, sort=False)
    if sl is not None:
        l_train, _ = scenario_sets(sl, n, preset.syn_test_frac, cfg.seed, sort=False)
    return dict(generator=g, honest=honest, leaky=leaky, steps=steps,
                leaky_steps=generator_steps(cfg, f"{g}-saw-test") if saw_test else {},
                per_class=n, honest_train=h_train, honest_test=h_test, leaky_train=l_train)


def closest(paths, to_records: pd.DataFrame) -> np.ndarray:
    """For each image of `paths`, its highest 32 px thumbnail correlation with any image of
    `to_records` (the guard's near-duplicate measure; 1 = a copy)."""
    a = np.stack([content(p)[1] for p in paths])  # synthetic images: plain decoding
    b = np.stack([content(p, s)[1] for p, s in zip(to_records["path"], to_records["source"])])
    return correlation_matrix(np.concatenate([a, b]))[: len(a), len(a):].max(axis=1)


def generator_and_synthetic_test(cfg, preset: dict, records, sets: dict, bank=None, progress: bool = True):
    """Per seed: real train + val images plus 80% of the honest set, scored on the real test
    images (honest) and on those plus the other 20% (the DDPM study); and the same with the
    leaky generator's set, scored on the real test images."""
    cols = TRAIN_COLUMNS
    real_train, test = (p[cols] for p in parts(records, SPLIT))
    jobs = []
    for seed in preset.seeds:
        h_train = pd.concat([real_train, sets["honest_train"][cols]], ignore_index=True)
        mixed = pd.concat([test, sets["honest_test"][cols]], ignore_index=True)
        jobs.append(Job(h_train, [View(REAL_TEST, test), View(MIXED_TEST, mixed, "synthetic-in-test")], seed=seed,
                        manifests=(sets["honest"],), all_records=records, meta=dict(fold=-1, repeat=0), tag="gen-honest"))
        if sets["leaky_train"] is None:
            continue
        l_train = pd.concat([real_train, sets["leaky_train"][cols]], ignore_index=True)
        jobs.append(Job(l_train, [View(SAW_TEST, test, "generator-saw-test")], seed=seed, manifests=(sets["leaky"],),
                        all_records=records, meta=dict(fold=-1, repeat=0), tag="gen-leaky"))
    return run_jobs(cfg, preset, jobs, bank, progress, desc="generator and synthetic-test protocols")


def saliency(cfg, preset: dict, records, ov: dict, n: int = 128):
    """Grad-CAM of the fold-0 models of `overlays` (as is, masked) on the (up to n) fold-0 test
    images with the most overlay: images, maps, masks and each map's share on overlay pixels."""
    proto, masked_records = ov["protocol"], ov["records"]
    test = np.flatnonzero(proto.fold.to_numpy() == 0)
    share = masked_records["overlay_share"].to_numpy()[test]
    pick = test[np.argsort(-share, kind="stable")][:n]
    bank = ImageBank(cfg.size, cfg.cache_dir)
    bank.add(records.iloc[pick])
    bank.add(masked_records.iloc[pick])
    masks = masking.masks_at(records.iloc[pick], cfg.size)
    out = dict(index=pick, masks=masks, labels=records["label"].to_numpy()[pick],
               groups=proto.group.to_numpy()[pick])
    for name, recs, view, tag in [("as is", records, None, "fold"), ("masked", masked_records, MASKED, "masked")]:
        job = fold_jobs(recs, proto, view, keep_model_fold=0, tag=tag)[0]
        imgs = bank.get(recs["path"].iloc[pick])
        maps, pred = masking.gradcam(load_model(cfg, preset, job), imgs)
        on, area = masking.overlay_share(maps, masks)
        out[name] = dict(images=imgs, maps=maps, pred=pred, on_overlay=on, overlay_area=area)
    return out


def closing_table(near: pd.DataFrame, gen: pd.DataFrame | None, ov: dict | None, reps: pd.DataFrame | None,
                  n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every shortcut beside its honest protocol (see helpers.pitfalls.tables)."""
    v = lambda d, name: d[d["view"] == name]  # noqa: E731
    acc = lambda d: tables.accuracy(d, n_boot, seed)  # noqa: E731
    rows = []

    def add(shortcut, protocol, d, reference, ref, inflation, study):
        rows.append(dict(shortcut=shortcut, protocol=protocol, guard=d["guard"].iloc[0],
                         acc=acc(d), reference=reference, ref_acc=acc(ref), inflation=inflation, studies=STUDIES[study]))

    honest = v(near, HONEST)
    for name in near["view"].unique():
        if name == HONEST:
            continue
        t = float(name.split("@")[1]) if "@" in name else np.nan
        key = "random-split" if "@" not in name else ("loose-groups" if t > HONEST_THRESHOLD else "stricter-groups")
        what = {"random-split": "random split (near-duplicates ignored)", "loose-groups": f"looser grouping ({name})",
                "stricter-groups": f"stricter grouping ({name})"}[key]
        add(what, name, v(near, name), HONEST, honest, tables.paired_inflation(v(near, name), honest, n_boot, seed), key)
    if gen is not None and len(gen):
        real, mixed, saw = v(gen, REAL_TEST), v(gen, MIXED_TEST), v(gen, SAW_TEST)
        if len(saw):
            add("generator trained with the test images", SAW_TEST, saw, REAL_TEST, real,
                tables.paired_inflation(saw, real, n_boot, seed), "generator-saw-test")
        add("synthetic images in the test set", MIXED_TEST, mixed, REAL_TEST, real,
            tables.mixed_inflation(mixed, n_boot, seed), "synthetic-in-test")
    if ov is not None and len(ov["masked"]):
        as_is, masked = ov["as_is"], ov["masked"]
        add("overlays left in the images", f"{ov['protocol'].name}, images as they are", as_is,
            MASKED, masked, tables.paired_inflation(as_is, masked, n_boot, seed), "overlays")
    if reps is not None and reps["repeat"].nunique() * reps["fold"].nunique() > 1:
        split_acc = tables.split_accuracies(reps)["accuracy"].to_numpy()
        pooled, best, worst = acc(reps), float(split_acc.max()), float(split_acc.min())
        rows.append(dict(shortcut=f"one split, the best of {len(split_acc)} reported", protocol="single grouped split",
                         guard="honest", acc=dict(accuracy=best, lo=worst, hi=best),
                         reference=f"{HONEST}, {reps['repeat'].nunique()} repeats pooled", ref_acc=pooled,
                         inflation=dict(inflation=best - pooled["accuracy"], lo=worst - pooled["accuracy"],
                                        hi=best - pooled["accuracy"], n=len(split_acc)),
                         interval=f"range over {len(split_acc)} single splits, not a CI", studies=STUDIES["single-split"]))
    return tables.comparison(rows)
