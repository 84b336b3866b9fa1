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
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from helpers.classify.data import TRAIN_COLUMNS, plain, synthetic_rows
from helpers.classify.protocol import content
from helpers.classify.settings import SPLIT
from helpers.classify.synthetic import fold_synthetic
from helpers.data.duplicates import correlation_matrix, near_duplicate_pairs, thumbnails
from helpers.data.splits import grouped_folds
from helpers.generators import train_and_export
from helpers.pitfalls import overlays as masking
from helpers.pitfalls import splits, tables
from helpers.pitfalls.presets import HONEST_THRESHOLD, STUDIES
from helpers.pitfalls.runs import ImageBank, Job, View, load_model, run_jobs, table_rows
from helpers.pitfalls.saliency import gradcam, overlay_share
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
    """The honest folds on images as they are and on images with overlays painted out.

    Painting out text can make two frames near-duplicates that only their text told apart; the
    guard would refuse a split that leaves such new twins on both sides. Then both arms use
    folds grouped by the twins of either version (the union of the two near-duplicate graphs);
    otherwise the images-as-they-are arm is the honest protocol of `near_duplicates` (cached).
    Returns dict(as_is=preds, masked=preds, records=masked records, protocol=the folds used,
    new_twins=pairs that are twins only once masked)."""
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
        g = coo_matrix((np.ones(len(both)), (both["i"], both["j"])), shape=(len(records), len(records)))
        union = pd.Series(connected_components(g, directed=False)[1], index=records.index, name="group")
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


def _split_per_class(df: pd.DataFrame, n: dict, test_frac: float, seed: int):
    """The first n[c] images of each class, cut into (train, test) at random per class."""
    rng = np.random.default_rng(seed)
    tr, te = [], []
    for c, part in df.groupby("class_name", sort=False):
        part = part.head(int(n.get(c, 0)))
        pick = rng.permutation(len(part))
        cut = int(round(test_frac * len(part)))
        te.append(part.iloc[pick[:cut]])
        tr.append(part.iloc[pick[cut:]])
    return pd.concat(tr, ignore_index=True), pd.concat(te, ignore_index=True)


def synthetic_sets(cfg, preset: dict, records, progress: bool = True, saw_test: bool = True) -> dict:
    """The generator trained on the split's training part (reused from RUNS/synthetic/<G>/ when
    a generator notebook made it) and the same generator, same steps, also shown the test
    images; each set cut to the same size per class and split 80/20. saw_test=False leaves the
    second generator out (it doubles the generator training), so only the synthetic-in-test
    protocol is measured."""
    g = preset.generator
    train_part = records[records["split"] == "train"].reset_index(drop=True)
    test = records[records["split"] == "test"].reset_index(drop=True)
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
    h_train, h_test = _split_per_class(sh, n, preset.syn_test_frac, cfg.seed)
    if sl is not None:
        l_train, _ = _split_per_class(sl, n, preset.syn_test_frac, cfg.seed)
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
    real_train = table_rows(records[records["split"] != "test"])[TRAIN_COLUMNS]
    test = table_rows(records[records["split"] == "test"])[TRAIN_COLUMNS]
    cols = TRAIN_COLUMNS
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
    """Grad-CAM of the fold-0 models of `overlays` (images as they are, overlays masked) on the
    (up to n) test images of fold 0 with the most overlay, most first; returns a dict of images,
    maps, overlay masks and the share of each map on overlay pixels (beside the share of the
    image they cover)."""
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
        maps, pred = gradcam(load_model(cfg, preset, job), imgs)
        on, area = overlay_share(maps, masks)
        out[name] = dict(images=imgs, maps=maps, pred=pred, on_overlay=on, overlay_area=area)
    return out


def closing_table(near: pd.DataFrame, gen: pd.DataFrame | None, ov: dict | None, reps: pd.DataFrame | None,
                  n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every shortcut beside its honest protocol (see helpers.pitfalls.tables)."""
    v = lambda d, name: d[d["view"] == name]  # noqa: E731
    honest = v(near, HONEST)
    acc_h = tables.accuracy(honest, n_boot, seed)
    rows = []
    for name in near["view"].unique():
        if name == HONEST:
            continue
        d = v(near, name)
        t = float(name.split("@")[1]) if "@" in name else np.nan
        key = "random-split" if "@" not in name else ("loose-groups" if t > HONEST_THRESHOLD else "stricter-groups")
        what = {"random-split": "random split (near-duplicates ignored)", "loose-groups": f"looser grouping ({name})",
                "stricter-groups": f"stricter grouping ({name})"}[key]
        rows.append(dict(shortcut=what, protocol=name, guard=d["guard"].iloc[0], acc=tables.accuracy(d, n_boot, seed),
                         reference=HONEST, ref_acc=acc_h, inflation=tables.paired_inflation(d, honest, n_boot, seed),
                         studies=STUDIES[key]))
    if gen is not None and len(gen):
        real, mixed, saw = v(gen, REAL_TEST), v(gen, MIXED_TEST), v(gen, SAW_TEST)
        acc_r = tables.accuracy(real, n_boot, seed)
        if len(saw):
            rows.append(dict(shortcut="generator trained with the test images", protocol=SAW_TEST,
                             guard=saw["guard"].iloc[0], acc=tables.accuracy(saw, n_boot, seed), reference=REAL_TEST,
                             ref_acc=acc_r, inflation=tables.paired_inflation(saw, real, n_boot, seed),
                             studies=STUDIES["generator-saw-test"]))
        rows.append(dict(shortcut="synthetic images in the test set", protocol=MIXED_TEST, guard=mixed["guard"].iloc[0],
                         acc=tables.accuracy(mixed, n_boot, seed), reference=REAL_TEST, ref_acc=acc_r,
                         inflation=tables.mixed_inflation(mixed, n_boot, seed), studies=STUDIES["synthetic-in-test"]))
    if ov is not None and len(ov["masked"]):
        as_is, masked = ov["as_is"], ov["masked"]
        rows.append(dict(shortcut="overlays left in the images", protocol=f"{ov['protocol'].name}, images as they are",
                         guard="honest", acc=tables.accuracy(as_is, n_boot, seed), reference=MASKED,
                         ref_acc=tables.accuracy(masked, n_boot, seed),
                         inflation=tables.paired_inflation(as_is, masked, n_boot, seed), studies=STUDIES["overlays"]))
    if reps is not None and reps["repeat"].nunique() * reps["fold"].nunique() > 1:
        acc = tables.split_accuracies(reps)["accuracy"].to_numpy()
        pooled = tables.accuracy(reps, n_boot, seed)
        best = float(acc.max())
        rows.append(dict(shortcut=f"one split, the best of {len(acc)} reported", protocol="single grouped split",
                         guard="honest", acc=dict(accuracy=best, lo=float(acc.min()), hi=best),
                         reference=f"{HONEST}, {reps['repeat'].nunique()} repeats pooled", ref_acc=pooled,
                         inflation=dict(inflation=best - pooled["accuracy"], lo=float(acc.min()) - pooled["accuracy"],
                                        hi=best - pooled["accuracy"], n=len(acc)),
                         interval=f"range over {len(acc)} single splits, not a CI", studies=STUDIES["single-split"]))
    return tables.comparison(rows)
