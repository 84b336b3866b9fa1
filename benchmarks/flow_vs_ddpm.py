"""Flow matching against the DDPM on the same data, network and protocol, at equal NFE.

Trains (or loads) notebook 06's DDPM and the flow-matching model of the profile on the prepared
training split (`RUNS/generators/ddpm`, `RUNS/generators/flow`; with --flow-steps, one flow run
per budget, `flow-<steps>` for budgets other than the preset's), reports each training's
CPU-seconds (this process's CPU time; "loaded" when the run had finished before), then draws
--per-class images of every class at NFE 1, 2, 4, 8, 16, 50 with flow matching (Euler, Heun) and
the DDPM (DDIM) and prints helpers.flow.compare's table: SWD against the real-vs-real floor
(mean ± sd), label accuracy with its 95% interval beside the probe's on held-out real images,
seconds per image, and the verdicts.

    python benchmarks/flow_vs_ddpm.py --profile quick --dataset phantom --per-class 24 --flow-steps 150,400
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from helpers.config import setup
from helpers.data.preprocess import load_images
from helpers.ddpm import pipeline as ddpm
from helpers.flow import compare
from helpers.flow import pipeline as flow
from helpers.flow.presets import preset as flow_preset
from helpers.gan.label_dependence import LabelProbe
from helpers.prepare import load_prepared


def timed(fn):
    """(result, CPU-seconds of this process, wall seconds)."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - c0, time.perf_counter() - w0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", default="quick", choices=["smoke", "quick", "paper"])
    ap.add_argument("--dataset", default="phantom")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--runs-dir", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-class", type=int, default=24, help="images per class per sampler and NFE")
    ap.add_argument("--flow-steps", default=None, help="comma-separated training budgets (default: the preset's)")
    ap.add_argument("--nfes", default=",".join(map(str, compare.NFES)))
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = ap.parse_args(argv)
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
    k, n_classes = args.per_class, len(cfg.classes)
    ddpm_drawn = compare.draw_at_nfe(None, ddpm_model, k, n_classes, nfes, args.seed, samplers=[("ddpm", "ddim")])
    pd.set_option("display.width", 200, "display.max_columns", 20)
    for name, model in flows.items():
        drawn = compare.draw_at_nfe(model, None, k, n_classes, nfes, args.seed, samplers=compare.SAMPLERS[:2])
        table = compare.nfe_table({**drawn, **ddpm_drawn}, images, labels, probe, x_val, val["label"].to_numpy(),
                                  seed=args.seed)
        print(f"\n== {name} ({model.preset.steps} steps) against the DDPM ({ddpm_model.preset.steps} steps), "
              f"{k} images per class ==")
        print(table.drop(columns=["n_images", "label_acc_lo", "label_acc_hi"]).round(4).to_string(index=False))
        print(compare.verdicts(table).to_string(index=False))
        print(compare.paragraph(table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
