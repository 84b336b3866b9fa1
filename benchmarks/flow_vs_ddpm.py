"""Flow matching against the DDPM on the same data, network and protocol, at equal NFE.

Trains (or loads) notebook 06's DDPM and the flow-matching model of the profile on the prepared
training split (`RUNS/generators/ddpm`, `RUNS/generators/flow`; with --flow-steps, one flow run
per budget, `flow-<steps>` for budgets other than the preset's), reports each training's
CPU-seconds (this process's CPU time; "loaded" when the run had finished before), then draws
--per-class images of every class at NFE 1, 2, 4, 8, 16, 50 with flow matching (Euler, Heun) and
the DDPM (DDIM) and prints helpers.flow.compare's table: SWD against the real-vs-real floor
(mean ± sd), label accuracy with its 95% interval beside the probe's on held-out real images,
seconds per image (wall and this process's CPU), and the verdicts; then notebook 07's FID, KID,
precision and recall on the course's domain features (helpers.quality.features.get_extractor, over
all classes, helpers.flow.compare.feature_scores), each beside the real-vs-real floor on the same
halvings of the training images, and their verdicts.

Each class c draws min(--per-class, the size of its half B) images: the protocol compares half A
with as many generated images as half B holds, so more would never be scored, and fewer would
score a smaller sample than the floor's. SWD, stats_dist and label accuracy use the first m images
of every class, m the smallest class's count (their floor draws m real images of every class and
compares them with the rest). --out writes the tables as CSV, --figures the NFE grids as PNG.
CPU-seconds are printed for each training, the feature extractor, the drawing and the scoring.

    python benchmarks/flow_vs_ddpm.py --profile quick --dataset phantom --per-class 160 --flow-steps 120,400 \
        --threads 1 --out runs/nfe/phantom --figures runs/nfe
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import torch

from helpers.config import setup
from helpers.data.preprocess import load_images
from helpers.ddpm import pipeline as ddpm
from helpers.flow import compare, figures
from helpers.flow import pipeline as flow
from helpers.flow.presets import preset as flow_preset
from helpers.gan.label_dependence import LabelProbe
from helpers.prepare import load_prepared
from helpers.quality.features import get_extractor
from helpers.quality.metrics import halves
from helpers.quality.presets import preset as quality_preset


def timed(fn, *args, **kwargs):
    """(fn(*args, **kwargs), CPU-seconds of this process, wall seconds)."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.process_time() - c0, time.perf_counter() - w0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"])
    ap.add_argument("--dataset", default="phantom")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--runs-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-class", type=int, default=160,
                    help="images per class per sampler and NFE, at most the size of the class's half B")
    ap.add_argument("--flow-steps", default=None, help="comma-separated training budgets (default: the preset's)")
    ap.add_argument("--nfes", default=",".join(map(str, compare.NFES)))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    ap.add_argument("--out", default=None, help="CSV prefix: <out>_<flow run>.csv, <out>_<flow run>_verdicts.csv")
    ap.add_argument("--figures", default=None, help="folder for the NFE grids (<dataset>_<flow run>_nfe.png)")
    args = ap.parse_args(argv)
    matplotlib.use("Agg")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = setup(args.profile, args.dataset, args.data_dir, args.runs_dir, args.seed, verbose=False)
    records = load_prepared(cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"].reset_index(drop=True)
    val = records[records["split"] == "val"]
    nfes = [int(n) for n in args.nfes.split(",")]
    default_steps = flow_preset(cfg.profile).steps
    budgets = [int(s) for s in args.flow_steps.split(",")] if args.flow_steps else [default_steps]
    print(f"{cfg.profile} / {cfg.dataset}, {cfg.size} px, {len(train)} training images, "
          f"{torch.get_num_threads()} thread(s), device {cfg.device}")

    def report(name, trained, cpu, wall):
        h = trained.history
        fresh = h is not None and h.resumed_from < h.steps
        said = f"{cpu:.0f} CPU-s, {wall:.0f} s wall" if fresh else "loaded (trained before this run)"
        if h is not None and h.resumed_from and fresh:
            said += f" (resumed from step {h.resumed_from})"
        print(f"training {name}: {trained.preset.steps} steps: {said}")

    ddpm_model, cpu, wall = timed(lambda: ddpm.train(cfg, train, progress=False))
    report("DDPM", ddpm_model, cpu, wall)
    flows = {}
    for steps in budgets:
        name = "flow" if steps == default_steps else f"flow-{steps}"
        flows[name], cpu, wall = timed(lambda n=name, s=steps: flow.train(cfg, train, n, steps=s, progress=False))
        report(name, flows[name], cpu, wall)

    images = load_images(train, cfg.size, cfg.cache_dir, progress=False)
    labels = train["label"].to_numpy()
    probe = LabelProbe.fit(images, labels, len(cfg.classes))
    x_val = load_images(val, cfg.size, cfg.cache_dir, progress=False)
    qp, classes = quality_preset(cfg), dict(enumerate(cfg.classes))
    extractor, cpu, wall = timed(lambda: get_extractor(cfg, records, progress=False))
    print(f"domain feature extractor: {cpu:.0f} CPU-s, {wall:.0f} s wall (loaded when trained before)")
    splits = halves(labels, qp.repeats, cfg.seed)
    real_features = extractor(images)
    half_b = [len(np.flatnonzero(labels[splits[0][1]] == c)) for c in classes]
    counts = [min(args.per_class, n) for n in half_b]
    m = min(counts)
    print(f"drawing {dict(zip(cfg.classes, counts))} images per sampler and NFE (half B: "
          f"{dict(zip(cfg.classes, half_b))}); SWD, stats_dist and label accuracy on the first {m} of each class")

    def draw(flow_model, ddpm_model, samplers):
        """drawn (see compare.draw_at_nfe) and {(method, nfe): CPU-seconds per image}."""
        drawn, cpu_per = {}, {}
        for sampler in samplers:
            for nfe in nfes:
                d, c, _ = timed(compare.draw_at_nfe, flow_model, ddpm_model, counts, len(classes), [nfe],
                                args.seed, samplers=[sampler])
                drawn |= d
                cpu_per |= {key: c / len(y) for key, (_, y, _) in d.items()}
        return drawn, cpu_per

    (ddpm_drawn, ddpm_cpu), cpu, wall = timed(draw, None, ddpm_model, [("ddpm", "ddim")])
    print(f"drawing with the DDPM: {cpu:.0f} CPU-s, {wall:.0f} s wall")
    pd.set_option("display.width", 250, "display.max_columns", 30)
    for name, model in flows.items():
        (drawn, flow_cpu), cpu, wall = timed(draw, model, None, compare.SAMPLERS[:2])
        print(f"drawing with {name}: {cpu:.0f} CPU-s, {wall:.0f} s wall")
        both, cpu_per = {**drawn, **ddpm_drawn}, {**flow_cpu, **ddpm_cpu}

        def score(both):
            t = compare.nfe_table(compare.first_per_class(both, m), images, labels, probe, x_val,
                                  val["label"].to_numpy(), seed=args.seed)
            f = compare.feature_scores(both, extractor, real_features, labels, splits, classes, k=qp.pr_k,
                                       kid_subsets=qp.kid_subsets, seed=cfg.seed)
            return t, f

        (table, feats), cpu, wall = timed(score, both)
        method = {v: k for k, v in compare.NAMES.items()}
        table["cpu_s_per_image"] = [cpu_per[(method[s], n)] for s, n in zip(table["sampler"], table["nfe"])]
        print(f"\n== {name} ({model.preset.steps} steps) against the DDPM ({ddpm_model.preset.steps} steps); "
              f"scoring: {cpu:.0f} CPU-s, {wall:.0f} s wall ==")
        print(table.drop(columns=["n_images", "label_acc_lo", "label_acc_hi"]).round(4).to_string(index=False))
        print(compare.verdicts(table).to_string(index=False))
        print(compare.paragraph(table))
        print(f"\ndomain features ({extractor.name}), all classes, mean over {len(splits)} halvings; *_real: "
              "half A against half B")
        print(feats.round(4).to_string(index=False))
        fv = compare.feature_verdicts(feats)
        print(fv.to_string(index=False))
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            table.merge(feats, on=["sampler", "nfe"]).to_csv(f"{args.out}_{name}.csv", index=False)
            compare.verdicts(table).merge(fv, on=["nfe", "flow_sampler"]).to_csv(f"{args.out}_{name}_verdicts.csv",
                                                                                index=False)
        if args.figures:
            Path(args.figures).mkdir(parents=True, exist_ok=True)
            fig = figures.nfe_grid(both, list(cfg.classes), nfes)
            fig.savefig(Path(args.figures) / f"{cfg.dataset}_{name}_nfe.png", dpi=90, bbox_inches="tight")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
