"""From predictions to numbers: accuracy with CIs, paired inflations, the closing table.

Every protocol is scored on pooled predictions (each image once per fold assignment and
seed, by a model that never trained on it). Intervals are percentile bootstraps that draw
whole near-duplicate groups (`helpers.classify.bootstrap`: the protocol's own groups, the
honest ones for a random split and for every paired difference), so twins are drawn together.

The inflation of a shortcut is accuracy(shortcut) - accuracy(honest) on the SAME images:
the two protocols' predictions are matched by image (and seed / repeat) and one resample
serves both, which makes the interval of the difference much tighter than the two intervals
side by side. When the shortcut adds synthetic test images, the matched part is the real
images and the synthetic ones are resampled with them (`mixed_inflation`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.classify.bootstrap import (
    ci_text,
    detectable_change,
    p_two,
    percentile_ci,
    resampled_sums,
    verdict,
)

KEY = ["image", "seed", "repeat"]


def _mean_ci(values, groups, n_boot: int, seed: int) -> tuple[float, float, float, np.ndarray]:
    """(mean, lo, hi, resampled means) of per-item values, group bootstrap 95% CI."""
    v = np.asarray(values, dtype=float)
    tot, n = resampled_sums(groups, n_boot, seed, v, np.ones_like(v))
    lo, hi = percentile_ci(tot / n)
    return float(v.mean()), lo, hi, tot / n


def accuracy(preds: pd.DataFrame, n_boot: int = 1000, seed: int = 0, real_only: bool = False) -> dict:
    """Pooled accuracy with a group bootstrap 95% CI; n = number of predictions."""
    d = preds[preds["source"] != "synthetic"] if real_only else preds
    acc, lo, hi, _ = _mean_ci(d["correct"], d["group"], n_boot, seed)
    return dict(accuracy=acc, lo=lo, hi=hi, n=len(d))


def _with_key(d: pd.DataFrame) -> pd.DataFrame:
    return d if "repeat" in d else d.assign(repeat=0)


def paired_inflation(shortcut: pd.DataFrame, honest: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """accuracy(shortcut) - accuracy(honest) on the images both scored (matched by image,
    seed and repeat), with a paired group bootstrap CI and two-sided bootstrap p-value."""
    m = _with_key(honest).merge(_with_key(shortcut), on=KEY, suffixes=("_h", "_s"))
    if m.empty:
        return dict(inflation=np.nan, lo=np.nan, hi=np.nan, p=np.nan, n=0)
    diff, lo, hi, reps = _mean_ci(m["correct_s"] - m["correct_h"], m["group_h"], n_boot, seed)
    return dict(inflation=diff, lo=lo, hi=hi, p=p_two(reps), n=len(m))


def mixed_inflation(view: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> dict:
    """For ONE model's predictions on a test set that holds synthetic images: accuracy on all
    of it minus accuracy on its real images, resampling real groups and synthetic images
    together (each synthetic image its own group)."""
    c = view["correct"].to_numpy(dtype=float)
    real = (view["source"] != "synthetic").to_numpy()
    groups = np.where(real, "r" + view["group"].astype(str), "s" + view["image"].astype(str))
    hits, n, hits_r, n_r = resampled_sums(groups, n_boot, seed, c, np.ones_like(c), c * real, real)
    reps = hits / n - hits_r / np.maximum(n_r, 1)
    lo, hi = percentile_ci(reps)
    return dict(inflation=float(c.mean() - c[real].mean()), lo=lo, hi=hi, p=p_two(reps), n=len(c))


def paired_mean_difference(a, b, groups, n_boot: int = 1000, seed: int = 0) -> dict:
    """mean(a - b) over the same items (e.g. two models' Grad-CAM share on the same images),
    with a group bootstrap 95% CI."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    diff, lo, hi, _ = _mean_ci(d, groups, n_boot, seed)
    return dict(diff=diff, lo=lo, hi=hi, n=len(d))


def split_accuracies(preds: pd.DataFrame) -> pd.DataFrame:
    """Accuracy of every single split (one test fold of one repeat and seed)."""
    cols = [c for c in ("repeat", "fold", "seed") if c in preds]
    return preds.groupby(cols)["correct"].agg(accuracy="mean", n="size").reset_index()


def comparison(rows: list[dict]) -> pd.DataFrame:
    """The closing table from rows of dict(shortcut, protocol, guard, acc (from accuracy()),
    reference, ref_acc, inflation (paired_inflation / mixed_inflation), studies)."""
    out = []
    for r in rows:
        a, ref, inf = r["acc"], r["ref_acc"], r["inflation"]
        out.append({"shortcut": r["shortcut"], "protocol": r["protocol"], "guard": r["guard"],
                    "accuracy": a["accuracy"], "acc_lo": a["lo"], "acc_hi": a["hi"],
                    "honest protocol": r["reference"], "honest accuracy": ref["accuracy"],
                    "inflation": inf["inflation"], "infl_lo": inf["lo"], "infl_hi": inf["hi"],
                    "interval": r.get("interval", "paired 95% CI"), "n": inf.get("n", np.nan),
                    "published study that used it": r["studies"]})
    return pd.DataFrame(out)


ACC_HEAD, INFL_HEAD = "accuracy [95% CI, or range]", "inflation [paired 95% CI, or range]"


def _shown(v: float, lo: float, hi: float, is_range: bool, signed: bool = False) -> str:
    """'0.688 [0.650, 0.724]' for an interval; '0.738 (range 0.629 to 0.738)' for a range."""
    if not is_range:
        return ci_text(v, lo, hi, signed=signed)
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(v)} (range {f.format(lo)} to {f.format(hi)})"


def pretty(table: pd.DataFrame) -> pd.DataFrame:
    """The closing table with each number beside its interval, for display. A row whose
    `interval` is not a CI (the single splits' range) says "range" in its cells."""
    ranges = (table["interval"] != "paired 95% CI").to_numpy()
    return pd.DataFrame({
        "shortcut": table["shortcut"], "protocol (guard)": table["protocol"] + " (" + table["guard"] + ")",
        ACC_HEAD: [_shown(*x, r) for x, r in zip(table[["accuracy", "acc_lo", "acc_hi"]].to_numpy(), ranges)],
        "vs honest protocol": table["honest protocol"] + " (" + table["honest accuracy"].map("{:.3f}".format) + ")",
        INFL_HEAD: [_shown(*x, r, signed=True) for x, r in zip(table[["inflation", "infl_lo", "infl_hi"]].to_numpy(),
                                                                ranges)],
        "interval": table["interval"],
        "published study that used it": table["published study that used it"]})


def floor(honest: dict, majority: float) -> str | None:
    """A warning when the honest protocol's accuracy (from `accuracy`) is no better than
    always answering the largest class: its interval reaches down to that share."""
    if not np.isfinite(honest["lo"]) or honest["lo"] > majority:
        return None
    return (f"**The honest protocol is at the floor**: {ci_text(honest['accuracy'], honest['lo'], honest['hi'])} "
            f"does not clear {majority:.3f}, the share of the largest class, which a classifier gets by always "
            "answering that class. The model learned too little for the differences below to say much about "
            "the shortcuts (train longer, or use more data).")


def conclusions(table: pd.DataFrame, ceiling: float = 0.999, honest: dict | None = None,
                majority: float | None = None) -> list[str]:
    """One sentence per row of the closing table, claiming no more than its interval shows;
    first, with the honest protocol's `accuracy` and the largest class's share, a floor warning."""
    warning = floor(honest, majority) if honest is not None and majority is not None else None
    lines = [warning] if warning else []
    for _, r in table.iterrows():
        v = verdict(r["infl_lo"], r["infl_hi"])
        num = ci_text(r["inflation"], r["infl_lo"], r["infl_hi"], signed=True)
        mde = detectable_change(r["infl_lo"], r["infl_hi"])
        detect = f"; the smallest inflation this run detects 4 times in 5 is {mde:.3f}" if np.isfinite(mde) else ""
        base = f"**{r['shortcut']}** ({r['protocol']} against {r['honest protocol']}): accuracy {num}"
        if r["interval"] != "paired 95% CI":
            lines.append(f"**{r['shortcut']}**: one split's accuracy ranged from {r['acc_lo']:.3f} to {r['accuracy']:.3f} "
                         f"({r['interval']}), around the pooled {r['honest accuracy']:.3f} of all of them; reporting "
                         f"the best split would add {r['inflation']:+.3f}, the worst {r['infl_lo']:+.3f}.")
        elif r["inflation"] == 0 and r["infl_lo"] == 0 and r["infl_hi"] == 0:
            lines.append(f"{base}: both protocols got exactly the same images right, so the interval is [0, 0] "
                         "and this run shows no effect of the shortcut.")
        elif v == "inflates":
            lines.append(f"{base}: this shortcut inflated the accuracy; the whole interval lies above 0.")
        elif v == "deflates":
            lines.append(f"{base}: here the shortcut LOWERED the accuracy; the whole interval lies below 0.")
        elif v == "includes 0":
            lines.append(f"{base}: the interval includes 0, so this run cannot tell the two protocols apart "
                         f"(it does not show that the shortcut is harmless either{detect}).")
        else:
            lines.append(f"{base}.")
    if len(table) and (table["honest accuracy"] >= ceiling).all() and (table["accuracy"] >= ceiling).all():
        lines.append("Every protocol scored (nearly) every image correctly: the task is at its ceiling here, so no "
                     "shortcut can show an effect. Try the real BUSI data (`DATASET = 'busi'`).")
    return lines
