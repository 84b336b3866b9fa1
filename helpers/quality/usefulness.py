"""Does a quality score predict whether a generator's images help a classifier?

FID, KID, precision and recall say how much synthetic images resemble real ones in some
feature space; the course's real question is whether they make a classifier better. Here
each generator's scores sit beside its measured usefulness:

- the paired accuracy change of real + its images against real-only, on the same test
  images, from the classifier grid (notebook 08, RUNS/classify/) when it has been run;
- otherwise its train-on-synthetic / test-on-real accuracy (TSTR) from the quality table.

With five generators a rank correlation is a hint, not a finding; `agreement` says so.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter
from scipy.stats import kendalltau, spearmanr

from helpers import parallel
from helpers.classify.grid import classify_dir, load_predictions, paired_table, read_results
from helpers.quality.metrics import halves, protocol_scores

# Which direction is "better" for each score (FID/KID/memorised: lower).
LOWER_IS_BETTER = {"fid", "kid", "memorised", "fid_ssl", "kid_ssl"}


def grid_usefulness(cfg, generators, arch: str | None = None) -> pd.DataFrame:
    """generator, use, use_lo, use_hi: accuracy of real + G's images minus real-only (paired
    95% CI) from RUNS/classify/, for the generators the grid has run; empty if none."""
    path = cfg.runs_dir / "classify"
    if not (path / "results.csv").exists():
        return pd.DataFrame(columns=["generator", "use", "use_lo", "use_hi"])
    out_dir = classify_dir(cfg)
    res = read_results(out_dir)
    wanted = ["real"] + [f"real+syn:{g}" for g in generators]
    res = res[res["setting"].isin(wanted) & ((res["arch"] == arch) if arch else True)]
    if res.empty or "real" not in set(res["setting"]):
        return pd.DataFrame(columns=["generator", "use", "use_lo", "use_hi"])
    preds = load_predictions(out_dir, res)
    paired = paired_table(preds, cfg.classes, metrics=("accuracy",), seed=cfg.seed)
    paired = paired[paired["metric"] == "accuracy"]
    return pd.DataFrame(dict(generator=paired["setting"].str.replace("real+syn:", "", regex=False),
                             use=paired["diff"].to_numpy(), use_lo=paired["lo"].to_numpy(),
                             use_hi=paired["hi"].to_numpy())).reset_index(drop=True)


def quality_vs_usefulness(table: pd.DataFrame, grid: pd.DataFrame, second: pd.DataFrame | None = None,
                          second_name: str = "ssl") -> pd.DataFrame:
    """One row per generator: its 'all'-class scores (and FID/KID in a second feature space),
    TSTR, and usefulness (`use`: the grid's paired change when available, else TSTR minus the
    real TSTR; `use_source` says which)."""
    t = table[(table["class_name"] == "all") & (table["generator"] != "real")].set_index("generator")
    real = table[(table["class_name"] == "all") & (table["generator"] == "real")].iloc[0]
    out = t[["fid", "kid", "precision", "recall", "memorised", "tstr"]].copy()
    if second is not None:
        s = second[(second["class_name"] == "all")].set_index("generator")
        out[f"fid_{second_name}"] = s["fid"]
        out[f"kid_{second_name}"] = s["kid"]
    g = grid.set_index("generator") if len(grid) else pd.DataFrame(columns=["use", "use_lo", "use_hi"])
    out["use"] = [g.loc[k, "use"] if k in g.index else t.loc[k, "tstr"] - real["tstr"] for k in out.index]
    out["use_lo"] = [g.loc[k, "use_lo"] if k in g.index else np.nan for k in out.index]
    out["use_hi"] = [g.loc[k, "use_hi"] if k in g.index else np.nan for k in out.index]
    out["use_source"] = ["paired accuracy change (grid)" if k in g.index else "TSTR minus real TSTR"
                         for k in out.index]
    return out


def agreement(df: pd.DataFrame, scores=None) -> pd.DataFrame:
    """Spearman rank correlation between each score (oriented so that + means 'better score,
    more useful') and `use`, over the generators; with n < 5 it is not computed. Where some
    generators have the grid's paired change, only those are ranked; where none has, TSTR is
    left out (usefulness is then measured by TSTR itself)."""
    scores = scores or [c for c in df.columns if c not in ("use", "use_lo", "use_hi", "use_source")]
    if is_proxy(df):
        scores = [c for c in scores if c != "tstr"]  # usefulness *is* TSTR here: no test of anything
    df = from_grid(df)  # one measure of usefulness: a grid change is never ranked against a TSTR gap
    rows = []
    for c in scores:
        d = df[[c, "use"]].dropna()
        sign = -1 if c in LOWER_IS_BETTER else 1
        rho = spearmanr(sign * d[c], d["use"]).statistic if len(d) >= 5 and d[c].nunique() > 1 else np.nan
        rows.append(dict(score=c, rho=rho, n=len(d)))
    return pd.DataFrame(rows)


def from_grid(df: pd.DataFrame) -> pd.DataFrame:
    """The rows whose usefulness is the grid's paired change, when any is; else all rows (then
    usefulness is TSTR minus the real TSTR)."""
    grid = df["use_source"].str.startswith("paired") if "use_source" in df else pd.Series(False, df.index)
    return df[grid] if grid.any() else df


def is_proxy(df: pd.DataFrame) -> bool:
    """True when no generator has the grid's paired change: usefulness is then TSTR's gap."""
    return "use_source" in df and not df["use_source"].str.startswith("paired").any()


def figure(df: pd.DataFrame, scores):
    """Each score (x) against usefulness (y), one panel per score, generators named. Without
    notebook 08's grid, usefulness is TSTR minus the real TSTR, so TSTR gets no panel (it would
    be plotted against itself, less a constant) and the axis says it is a stand-in."""
    proxy, df = is_proxy(df), from_grid(df)
    scores = [s for s in scores if not (proxy and s == "tstr")]
    fig, axes = plt.subplots(1, len(scores), figsize=(3.1 * len(scores), 3.2), sharey=True, squeeze=False)
    for ax, sc in zip(axes[0], scores):
        lo, hi = df["use"] - df["use_lo"].fillna(df["use"]), df["use_hi"].fillna(df["use"]) - df["use"]
        ax.errorbar(df[sc], df["use"], yerr=[lo, hi], fmt="o", capsize=3)
        for g, r in df.iterrows():
            ax.annotate(g, (r[sc], r["use"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
        ax.axhline(0, color="gray", lw=0.8)
        ax.set_xlabel(sc + (" (lower = closer)" if sc in LOWER_IS_BETTER else ""))
        if sc.startswith("fid"):  # generators can differ by orders of magnitude
            _log_axis(ax.xaxis, df[sc])
    axes[0, 0].set_ylabel("TSTR minus real TSTR\n(stand-in: notebook 08 not run)" if proxy else
                          "accuracy change, real + G\nvs real only (notebook 08)")
    fig.suptitle("which quality score predicts usefulness?")
    fig.tight_layout()
    return fig


def _log_axis(axis, values) -> None:
    """A log scale with a few plain tick labels ("2", "5", not "2x10^0"): denser within one
    decade, one per decade over many, so that they never overlap."""
    axis.axes.set_xscale("log")
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    span = v.max() / v.min() if len(v) else 10.0
    subs = (1.0,) if span > 30 else (1.0, 2.0, 5.0) if span > 4 else (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0)
    axis.set_major_locator(LogLocator(subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    axis.set_minor_formatter(NullFormatter())


def reading(df: pd.DataFrame) -> str:
    """What the usefulness axis is in this run, in one sentence."""
    if is_proxy(df):
        return ("Usefulness here is each generator's TSTR minus the real TSTR, a stand-in: notebook 08's grid "
                "(RUNS/classify/) has not run, and only it measures whether adding a generator's images to the real "
                "ones helps. TSTR is left out of the comparison (it would be compared with itself); run this "
                "section again after notebook 08.")
    n = int(df["use_source"].str.startswith("paired").sum())
    return (f"Usefulness is the paired accuracy change of real + a generator's images against real only, from "
            f"notebook 08's grid, for {n} generator(s); with so few, a rank correlation is a hint, not a finding.")


def rankings(first: pd.DataFrame, second: pd.DataFrame, names=("domain", "ssl")) -> pd.DataFrame:
    """The generators ranked by 'all'-class FID in two feature spaces (1 = closest to real),
    and Kendall's tau between the two orders."""
    a = first[(first["class_name"] == "all") & (first["generator"] != "real")].set_index("generator")["fid"]
    b = second[(second["class_name"] == "all") & (second["generator"] != "real")].set_index("generator")["fid"]
    out = pd.DataFrame({f"FID {names[0]}": a, f"rank {names[0]}": a.rank(), f"FID {names[1]}": b,
                        f"rank {names[1]}": b.rank()})
    tau = kendalltau(a.loc[out.index], b.loc[out.index]).statistic if len(out) > 1 else np.nan
    out.attrs["tau"] = float(tau)
    return out


def feature_scores(extractor, report, classes: dict, preset: dict, seed: int = 0) -> pd.DataFrame:
    """FID, KID, precision and recall of every set in `report` (a helpers.quality.report
    QualityReport) in another feature space, by the same protocol (halves of the real
    training images as the yardstick). Rows as in the report's table, generator 'real' first."""
    f_train = extractor(report.train_images)
    y = report.train_labels
    splits = halves(y, preset.repeats, seed)
    kw = dict(k=preset.pr_k, kid_subsets=preset.kid_subsets, seed=seed)
    jobs = {"real": parallel.task(protocol_scores, f_train, y, splits, classes, **kw)}
    jobs |= {gen: parallel.task(lambda s=s: protocol_scores(f_train, y, splits, classes, extractor(s["images"]),
                                                            s["labels"], **kw))
             for gen, s in report.sets.items()}
    # one set per thread on a CPU (helpers.parallel): KID's kernels are numpy on one core
    done = parallel.run(jobs, parallel.side_by_side(len(jobs), getattr(extractor, "device", "cpu")))
    out = pd.concat([df.assign(generator=gen) for gen, df in done.items()], ignore_index=True)
    return out[["generator", "class_name", "n_compared", "fid", "kid", "precision", "recall"]]
