"""Score every synthetic set under RUNS/synthetic/ (FID, KID, precision/recall beside a
real-vs-real baseline, memorisation, train-on-synthetic accuracy) and write
RUNS/quality/quality.csv. Works offline: the default features come from a small classifier
trained on the real training images; Inception-v3 only from a local weights file."""

from helpers.cli import add_common, add_set, config_from_args, preset_changes
from helpers.quality.presets import PRESETS, STAGE

NAME = "quality"
HELP = "score all synthetic sets: FID/KID/precision/recall, memorisation, TSTR"


def add_arguments(p):
    from helpers.quality.features import INCEPTION_ENV, KINDS

    add_common(p)
    add_set(p, "repeats=3")
    p.add_argument("--features", choices=KINDS, default="domain",
                   help="feature extractor: domain (default, trained on the real training images), "
                        f"inception (local weights: --inception-weights or ${INCEPTION_ENV}), random")
    p.add_argument("--inception-weights", default=None, help="torchvision inception_v3 state dict (.pth)")
    p.add_argument("--only", nargs="*", default=None, help="score only these generators' sets")
    p.add_argument("--usefulness", action="store_true",
                   help="also score in a self-supervised feature space and put every generator's scores beside its "
                        "measured usefulness (the classifier grid's paired change when RUNS/classify has it, else "
                        "TSTR); writes RUNS/quality/usefulness.csv")
    p.add_argument("--exported", action="store_true",
                   help="score the exported (class-balancing) sets as they are, instead of the same number of "
                        "images per class drawn from each trained generator (RUNS/quality/scoring/)")


def run(args):
    import time

    import pandas as pd

    from helpers.data.records import DataError
    from helpers.prepare import load_prepared
    from helpers.quality.report import score_sets, summary
    from helpers.synth import find_manifests

    t0 = time.perf_counter()
    changes = preset_changes(args)
    preset = PRESETS.of(args.profile, **changes)  # refused here, before anything trains
    cfg = config_from_args(args, stage_changes={STAGE: {k: getattr(preset, k) for k in changes}})
    manifests = find_manifests(cfg.runs_dir)
    if args.only:
        unknown = sorted(set(args.only) - set(manifests))
        if unknown:
            raise DataError(f"No synthetic set for {', '.join(unknown)} under {cfg.runs_dir / 'synthetic'} "
                            f"(found: {', '.join(manifests) or 'none'}).")
        manifests = {g: m for g, m in manifests.items() if g in args.only}
    if not manifests:
        raise DataError(f"No synthetic sets (*/manifest.csv) under {cfg.runs_dir / 'synthetic'}. Train and export "
                        "one first, e.g. `python -m helpers train wgan --runs-dir ...`.")
    records = load_prepared(cfg)
    if not args.exported:
        from helpers.quality.sampling import scoring_sets

        manifests = scoring_sets(cfg, manifests)
    report = score_sets(cfg, records, manifests, kind=args.features, weights=args.inception_weights)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"\nfeatures: {report.extractor}; every metric beside its real-vs-real value (two halves of "
              "the training images)")
        print(summary(report.table).to_string())
    print(f"\n{len(manifests)} set(s) scored in {time.perf_counter() - t0:.1f} s; table: {report.csv}")
    if args.usefulness:
        from helpers.quality import usefulness as U
        from helpers.quality.features import get_extractor

        ssl = get_extractor(cfg, records, kind="ssl")
        second = U.feature_scores(ssl, report, dict(enumerate(cfg.classes)), preset, seed=cfg.seed)
        qu = U.quality_vs_usefulness(report.table, U.grid_usefulness(cfg, list(report.sets)), second, "ssl")
        ranks = U.rankings(report.table, second, names=("domain", "ssl"))
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            print("\nquality beside usefulness ('all' rows; fid_ssl/kid_ssl: self-supervised features):")
            print(qu.round(3).to_string())
            print("\nrank correlation of each score with usefulness (Spearman, oriented so + = predicts):")
            print(U.agreement(qu).round(2).to_string(index=False))
            print(f"\nFID rankings in the two feature spaces (Kendall tau {ranks.attrs['tau']:+.2f}):")
            print(ranks.round(3).to_string())
        qu.to_csv(cfg.stage_dir("quality") / "usefulness.csv")
        print(f"wrote {cfg.runs_dir / 'quality' / 'usefulness.csv'} ({time.perf_counter() - t0:.1f} s in all)")
    return 0
