"""Re-run the DDPM study's scenarios (+0 / +50 / +125 / +250 synthetic images per class) under
both test protocols: real test images only (honest) and the study's 80/20 split of the combined
real + synthetic set. The same models are scored both ways, so the difference is what the
study's protocol adds. The class-conditional DDPM is the one trained on the split's training
part (reused from RUNS/synthetic/ddpm/ when notebook 06 or `train ddpm` made it). Its own
modality is mammography: `--dataset minimias`. Writes RUNS/ddpm_study/table.csv and preds.csv, and
the figure RUNS/figures/06b_ddpm_study.png."""

import argparse

from helpers.cli import add_common, add_set, config_from_args, preset_changes
from helpers.pitfalls.presets import STUDY_BUDGETS

NAME = "ddpm-study"
HELP = "the DDPM study's scenarios, real-only test vs its 80/20 synthetic-in-test protocol"


def _ints(text):
    try:
        out = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"wants comma-separated counts, e.g. 0,50,125,250; got {text!r}") from None
    if any(n < 0 for n in out):
        raise argparse.ArgumentTypeError(f"counts must be 0 or more; got {text!r}")
    return out


def add_arguments(p):
    add_common(p)
    add_set(p, "bs=16", "epochs", "seeds", "threads", "workers",
            arch=dict(help="classifier (default: the classifier grid's, e.g. resnet18_small)"))
    p.add_argument("--scenarios", type=_ints, default=None,
                   help="synthetic images per class (default: the profile's sweep, 0,50,125,250 on quick)")


def run(args):
    import time

    import pandas as pd

    from helpers.classify.metrics import majority_share
    from helpers.pitfalls import synthetic_in_test as study
    from helpers.pitfalls.experiments import load
    from helpers.plots import savefig

    t0 = time.perf_counter()
    preset = STUDY_BUDGETS.of(args.profile, **preset_changes(args))
    cfg = config_from_args(args)
    scenarios = args.scenarios or study.scenarios(cfg.profile)
    print(f"DDPM study on {cfg.dataset} at {cfg.size} px: scenarios {scenarios}, {preset.arch}, "
          f"{preset.epochs} epochs, seeds {preset.seeds}")
    records, _, bank = load(cfg)
    manifest = study.synthetic_set(cfg, records, scenarios)
    preds = study.run(cfg, preset, records, manifest, scenarios, bank)
    t = study.table(preds, list(cfg.classes), preset.n_boot, cfg.seed)
    out = cfg.stage_dir("ddpm_study")
    t.to_csv(out / "table.csv", index=False)
    preds.to_csv(out / "preds.csv", index=False)
    majority = majority_share(records.loc[records["split"] == "test", "label"])  # always answering the largest class
    fig = study.figure(t, cfg.dataset, majority)
    print(f"figure: {savefig(fig, cfg, '06b_ddpm_study')}")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        print(study.pretty(t).to_string(index=False))
    print("\n".join(study.conclusions(t, majority)))
    print(f"\n{time.perf_counter() - t0:.0f} s; wrote {out / 'table.csv'}")
    return 0
