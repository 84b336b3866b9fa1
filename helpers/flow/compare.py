"""Flow matching beside the DDPM at equal numbers of network evaluations (NFE), measured.

Both trained models draw `n_per_class` images of every class at each NFE with their own
preset's guidance: flow matching with Euler (NFE steps) and Heun (NFE / 2 steps), the DDPM
with DDIM (NFE steps, its preset's eta). Every class is drawn in one batch from the same seed at
every NFE (one batch costs about half as much CPU time as one per class), so the starting noise
is the same along a row of the figure: one noise draw sharpening as the NFE grows. Three stated
measures, each against what real images score (the floor) and with its noise:

- **SWD**: the sliced Wasserstein distance (helpers.quality.swd) between the generated images
  and the real training images; the floor is the same distance for as many real images (as many
  per class) drawn from the training images against the rest, over `FLOOR_DRAWS` draws (mean, sd).
  One set's value moves by about that sd from draw to draw, so two sets differ beyond chance when
  their values lie more than 2 sqrt(2) sd apart (two standard deviations of a difference).
- **stats_dist**: notebook 06's distance between per-image brightness, contrast and fine texture
  (helpers.quality.swd.stats_distance) of the generated and the real images, with the same floor
  and the same rule. The SWD compares images average-pooled to 32 px, so it hardly sees pixel-level
  grain; the texture statistics do.
- **label accuracy**: the share of generated images that a probe trained on the real training
  images (helpers.gan.label_dependence.LabelProbe) assigns to the class they were drawn for,
  with a 95% Wilson interval; the probe's own accuracy on held-out real images is its floor.
  Two models differ when their intervals do not overlap.

Plus seconds per image (on this machine, for the whole batch of classes). `verdicts` says, at
each NFE, which model wins on each measure, or "not distinguishable".

`feature_scores` adds notebook 07's measures on the course's domain features
(helpers.quality.features): FID, KID, precision and recall of each (sampler, NFE) set over all
classes, by `helpers.quality.metrics.protocol_scores` (half A of each real class against as many
generated images as half B holds, mean and sd over the halvings), each beside the real-vs-real
floor on the same halvings (`*_real`: half A against half B). `feature_verdicts` names a winner
where two sets' means lie more than 2 sqrt(sd_1^2 + sd_2^2) apart.
"""

from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch

from helpers.data.preprocess import images_uint8
from helpers.quality.metrics import protocol_scores
from helpers.quality.swd import sliced_wasserstein, stats_distance

NFES = (1, 2, 4, 8, 16, 50)
FLOOR_DRAWS = 20
SAMPLERS = (("flow", "euler"), ("flow", "heun"), ("ddpm", "ddim"))
NAMES = {"euler": "flow, Euler", "heun": "flow, Heun", "ddim": "DDPM, DDIM"}
FEATURE_METRICS = {"fid": "lower", "kid": "lower", "precision": "higher", "recall": "higher"}


def _draw(model, kind: str, method: str, labels: np.ndarray, nfe: int, seed: int) -> torch.Tensor:
    if kind == "flow":
        return model.generate(labels, len(labels), seed=seed, method=method, nfe=nfe)
    return model.generate(labels, len(labels), seed=seed, method="ddim", steps=nfe)


def draw_at_nfe(flow, ddpm, n_per_class, n_classes: int, nfes=NFES, seed: int = 0, samplers=SAMPLERS) -> dict:
    """{(sampler, nfe): (images (N, C, H, W) in [-1, 1], labels (N,), seconds)} for `samplers`
    ((model, method) pairs; Heun only at even NFE); every class in one batch from `seed`.
    `n_per_class`: one count for every class, or one count per class."""
    out, labels = {}, np.repeat(np.arange(n_classes), n_per_class)
    for kind, method in samplers:
        model = flow if kind == "flow" else ddpm
        for nfe in nfes:
            if method == "heun" and nfe % 2:
                continue
            t0 = time.perf_counter()
            x = _draw(model, kind, method, labels, nfe, seed)
            out[(method, nfe)] = (x, labels, time.perf_counter() - t0)
    return out


def first_per_class(drawn: dict, n: int) -> dict:
    """`drawn` with only the first `n` images of every class, the seconds scaled to the images kept."""
    out = {}
    for key, (x, y, sec) in drawn.items():
        keep = np.concatenate([np.flatnonzero(y == c)[:n] for c in np.unique(y)])
        out[key] = (x[torch.as_tensor(keep)], y[keep], sec * len(keep) / len(y))
    return out


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    mid, half = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (mid - half) / (1 + z * z / n), (mid + half) / (1 + z * z / n)


def floors(real, real_labels, n_per_class: int, draws: int = FLOOR_DRAWS, seed: int = 0) -> dict:
    """{'swd': (mean, sd), 'stats': (mean, sd)} of the SWD and stats_dist between n_per_class real
    images of every class and the other real images, over `draws` draws."""
    real, real_labels = np.asarray(real), np.asarray(real_labels)
    rng = np.random.default_rng(seed)
    swd, stats = [], []
    for _ in range(draws):
        held = np.concatenate([rng.choice(np.flatnonzero(real_labels == c), n_per_class, replace=False)
                               for c in np.unique(real_labels)])
        rest = np.setdiff1d(np.arange(len(real)), held)
        swd.append(sliced_wasserstein(real[held], real[rest], seed=seed))
        stats.append(stats_distance(real[held], real[rest]))
    return {k: (float(np.mean(v)), float(np.std(v, ddof=1))) for k, v in (("swd", swd), ("stats", stats))}


def nfe_table(drawn: dict, real, real_labels, probe, held_out, held_out_labels, seed: int = 0) -> pd.DataFrame:
    """One row per (sampler, NFE): SWD and stats_dist with their floors' mean and sd, label accuracy
    with its Wilson interval and the probe's accuracy on held-out real images, seconds per image."""
    n_per_class = int(np.bincount(next(iter(drawn.values()))[1]).max())
    fl = floors(real, real_labels, n_per_class, seed=seed)
    real_acc = probe.accuracy(held_out, held_out_labels)
    rows = []
    for (method, nfe), (x, y, sec) in drawn.items():
        right = int((probe.predict(x) == y).sum())
        lo, hi = wilson(right, len(y))
        rows.append(dict(sampler=NAMES[method], nfe=nfe, swd=sliced_wasserstein(x, real, seed=seed),
                         swd_floor=fl["swd"][0], swd_floor_sd=fl["swd"][1], stats_dist=stats_distance(x, real),
                         stats_floor=fl["stats"][0], stats_floor_sd=fl["stats"][1],
                         label_acc=right / len(y), label_acc_lo=lo, label_acc_hi=hi,
                         label_acc_real=real_acc, s_per_image=sec / len(y), n_images=len(y)))
    return pd.DataFrame(rows).sort_values(["nfe", "sampler"], kind="stable").reset_index(drop=True)


def feature_scores(drawn: dict, extractor, real_features, real_labels, splits, classes: dict, k: int = 3,
                   kid_subsets: int = 100, seed: int = 0, class_name: str = "all") -> pd.DataFrame:
    """One row per (sampler, NFE): FID, KID, precision and recall on `extractor`'s features (mean and sd
    over the halvings `splits`, helpers.quality.metrics.protocol_scores) of class `class_name` ('all':
    every class, as many images of each on both sides), beside the real-vs-real floor (`*_real`, `*_real_sd`).
    `real_features`: the extractor's features of the real training images labelled `real_labels`;
    `classes`: label -> class name. Each class needs as many drawn images as its half B holds."""
    kw = dict(k=k, kid_subsets=kid_subsets, seed=seed)
    floor = protocol_scores(real_features, real_labels, splits, classes, **kw).set_index("class_name").loc[class_name]
    rows = []
    for (method, nfe), (x, y, _) in drawn.items():
        sc = protocol_scores(real_features, real_labels, splits, classes, extractor(images_uint8(x)), y,
                             **kw).set_index("class_name").loc[class_name]
        row = dict(sampler=NAMES[method], nfe=nfe, n_compared=int(sc["n_compared"]), n_real=int(floor["n_compared"]))
        for m in FEATURE_METRICS:
            row |= {m: sc[m], f"{m}_sd": sc[f"{m}_sd"], f"{m}_real": floor[m], f"{m}_real_sd": floor[f"{m}_sd"]}
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["nfe", "sampler"], kind="stable").reset_index(drop=True)


def feature_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per NFE and flow sampler of a `feature_scores` table: 'flow', 'DDPM' or 'not distinguishable' on
    each measure (FID and KID lower, precision and recall higher is better); a winner only where the
    two means lie more than 2 sqrt(sd_flow^2 + sd_DDPM^2) apart."""
    ddim = table[table["sampler"] == NAMES["ddim"]].set_index("nfe")
    rows = []
    for r in table[table["sampler"] != NAMES["ddim"]].itertuples():
        if r.nfe not in ddim.index:
            continue
        d, row = ddim.loc[r.nfe], dict(nfe=r.nfe, flow_sampler=r.sampler.split(", ")[1])
        for m, better in FEATURE_METRICS.items():
            a, b = getattr(r, m), d[m]
            if abs(a - b) <= 2 * math.hypot(getattr(r, f"{m}_sd"), d[f"{m}_sd"]):
                row[m] = "not distinguishable"
            else:
                row[m] = "flow" if (a < b) == (better == "lower") else "DDPM"
        rows.append(row)
    return pd.DataFrame(rows)


def _distance_winner(a, b, col: str, sd: str) -> str:
    """'flow', 'DDPM' or 'not distinguishable' for rows a (flow) and b (DDPM) on distance `col`
    (lower is better), whose one-draw noise is the floor's sd `sd`."""
    if abs(getattr(a, col) - getattr(b, col)) <= 2 * math.sqrt(2) * getattr(a, sd):
        return "not distinguishable"
    return "flow" if getattr(a, col) < getattr(b, col) else "DDPM"


def _acc_winner(a, b) -> str:
    if a.label_acc_lo > b.label_acc_hi:
        return "flow"
    if b.label_acc_lo > a.label_acc_hi:
        return "DDPM"
    return "not distinguishable"


def verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Per NFE and flow sampler: which model wins on SWD and stats_dist (lower) and on label accuracy
    (higher)."""
    ddim = table[table["sampler"] == NAMES["ddim"]].set_index("nfe")
    rows = []
    for r in table[table["sampler"] != NAMES["ddim"]].itertuples():
        if r.nfe in ddim.index:
            d = ddim.loc[r.nfe]
            rows.append(dict(nfe=r.nfe, flow_sampler=r.sampler.split(", ")[1],
                             swd=_distance_winner(r, d, "swd", "swd_floor_sd"),
                             stats_dist=_distance_winner(r, d, "stats_dist", "stats_floor_sd"),
                             label_accuracy=_acc_winner(r, d)))
    return pd.DataFrame(rows)


def paragraph(table: pd.DataFrame, context: str = "") -> str:
    """The comparison in words, computed from `table` (see `verdicts`); `context` goes first
    (e.g. the two models' training budgets)."""
    v = verdicts(table)
    first = table.iloc[0]
    parts = [f"{context}On {int(first.n_images)} images per sampler and NFE (floors: SWD {first.swd_floor:.4f} "
             f"± {first.swd_floor_sd:.4f}, stats_dist {first.stats_floor:.3f} ± {first.stats_floor_sd:.3f}; the "
             f"probe's accuracy on held-out real images {first.label_acc_real:.2f}), flow matching against the "
             "DDPM's DDIM at the same NFE:"]
    for measure, name in (("swd", "sliced Wasserstein distance"), ("stats_dist", "brightness, contrast and texture "
                          "(stats_dist)"), ("label_accuracy", "label accuracy")):
        said = []
        for sampler in ("Euler", "Heun"):
            s = v[v["flow_sampler"] == sampler]
            if s.empty:
                continue
            by = {w: ", ".join(str(n) for n in s.loc[s[measure] == w, "nfe"]) for w in
                  ("flow", "DDPM", "not distinguishable")}
            bits = [f"{'flow matching wins' if w == 'flow' else 'the DDPM wins' if w == 'DDPM' else w} at NFE {n}"
                    for w, n in by.items() if n]
            said.append(f"with {sampler}, " + "; ".join(bits))
        parts.append(f"**{name}**: " + " — ".join(said) + ".")
    above = table[table["label_acc_lo"] > table["label_acc_real"]]
    if len(above):
        where = "; ".join(f"{s} at NFE {', '.join(str(n) for n in part['nfe'])}"
                          for s, part in above.groupby("sampler", sort=False))
        parts.append(f"Label accuracy above what held-out real images score ({where}) means samples that "
                     "exaggerate the classes' differences, not samples more real than real ones.")
    return " ".join(parts)
