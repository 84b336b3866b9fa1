"""Measure how much each protocol shortcut inflates a reported accuracy (notebook 09's five
measurements): a random split and looser/stricter near-duplicate grouping against grouped
folds; a generator that saw the test images and synthetic images in the test set against the
honest split; overlays left in against painted out; one split against repeated folds. The
same network and budget throughout; every shortcut is run through a named leaky mode of the
protocol guard, which reports it. Writes RUNS/pitfalls/closing_table.csv and preds.csv, and
the figures RUNS/figures/09_*.png; runs already trained are reused."""

from helpers.cli import add_common, add_set, config_from_args, positive_int, preset_changes
from helpers.errors import SettingError
from helpers.pitfalls.presets import PRESETS

NAME = "pitfalls"
HELP = "protocol shortcuts: how much each inflates the accuracy (notebook 09's closing table)"


def add_arguments(p):
    add_common(p)
    add_set(p, "bs=16", "epochs", "gen_steps", "threads", "workers",
            arch=dict(help="classifier (default: the profile's, e.g. tiny on quick)"),
            seeds=dict(help="classifier seeds of the split-based protocols, e.g. 0,1,2"),
            lr=dict(type=float, help="one-cycle peak learning rate (default: the profile's)"),
            folds=dict(type=positive_int, help="folds per fold-based protocol"),
            repeats=dict(type=positive_int, help="redraws of the honest folds"),
            thresholds=dict(help="grouping thresholds, e.g. 0.90,0.95,0.97,0.99"),
            generator=dict(help="generator of the generator / synthetic-test protocols (dcgan)"))
    p.add_argument("--skip", nargs="*", default=[], choices=["generator", "saw-test", "overlays", "repeats"],
                   help="measurements to leave out (saw-test: only the second generator, the one also "
                        "shown the test images; the synthetic-in-test protocol still runs)")


def run(args):
    import time

    import matplotlib
    import pandas as pd
    import torch

    matplotlib.use("Agg")  # figures are written to files, never shown

    from helpers.classify.models import ARCHITECTURES
    from helpers.pitfalls import experiments as E
    from helpers.pitfalls import tables
    from helpers.pitfalls.figures import write_figures

    t0 = time.perf_counter()
    preset = PRESETS.of(args.profile, **preset_changes(args))
    if preset.arch not in ARCHITECTURES:
        raise SettingError(f"--arch: unknown architecture {preset.arch!r}; choose from {', '.join(ARCHITECTURES)}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config_from_args(args)
    print(f"pitfalls on {cfg.dataset} at {cfg.size} px: {preset}")
    records, thumbs, bank = E.load(cfg)
    near, protocols, skipped = E.near_duplicates(cfg, preset, records, thumbs, bank)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    gen = ov = reps = None
    if "generator" not in args.skip:
        sets = E.synthetic_sets(cfg, preset, records, saw_test="saw-test" not in args.skip)
        print(f"generator {sets['generator']}: steps {sets['steps']} (train part) / "
              f"{sets['leaky_steps'] or 'not trained'} (saw test); "
              f"synthetic images per class {sets['per_class']}")
        gen = E.generator_and_synthetic_test(cfg, preset, records, sets, bank)
    if "overlays" not in args.skip:
        ov = E.overlays(cfg, preset, records, thumbs, bank)
        if len(ov["new_twins"]):
            print(f"{len(ov['new_twins'])} pair(s) are near-duplicates only once masked; the overlay comparison uses "
                  f"folds grouped by both: {ov['protocol'].name}")
    if "repeats" not in args.skip:
        reps = E.repeats(cfg, preset, records, thumbs, bank)
    table = E.closing_table(near, gen, ov, reps, preset.n_boot, cfg.seed)
    out = cfg.stage_dir("pitfalls")
    print("\n".join(write_figures(cfg, preset, records, protocols, near, ov, reps, table, thumbs)))
    table.to_csv(out / "closing_table.csv", index=False)
    parts = [near, gen, reps] + ([ov["as_is"], ov["masked"]] if ov is not None else [])
    pd.concat([d for d in parts if d is not None], ignore_index=True).to_csv(out / "preds.csv", index=False)
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 60):
        print(tables.pretty(table).to_string(index=False))
    print("\n".join(tables.conclusions(table)))
    print(f"\n{time.perf_counter() - t0:.0f} s; wrote {out / 'closing_table.csv'}")
    return 0
