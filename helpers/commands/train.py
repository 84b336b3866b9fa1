"""Train a generator on the training part of the prepared split and export a class-balanced
synthetic set to RUNS/synthetic/<generator>/manifest.csv. Interrupted runs resume.

`--variant NAME` applies a named set of changes to the profile's preset (e.g. `busi-cpu` for
the DDPM: BUSI at 64 px in about 20 CPU minutes); `--set KEY=VALUE` (repeatable) changes one
setting on top, e.g. `--set n_critic=5` for a GAN or `--set base=16 --set mults=1,2,4,4` for the
DDPM. A run folder refuses to resume with other settings: give a changed run its own
`--out-name`."""

import argparse
import dataclasses

from helpers.cli import add_common, config_from_args
from helpers.generators import GENERATORS

NAME = "train"
HELP = "train a generator (wgan, wgan-gp, dcgan, cwgan, ddpm) and export synthetic images"


def parse_value(text: str):
    """'5' -> 5, '1e-4' -> 0.0001, 'true' -> True, '1,2,4' -> (1, 2, 4), else the text."""
    if "," in text:
        return tuple(parse_value(t) for t in text.split(",") if t)
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_settings(pairs: list[str], generator: str) -> dict:
    """KEY=VALUE strings -> {key: value}, checked against the generator's preset fields."""
    from helpers.ddpm.presets import DDPMPreset
    from helpers.gan.presets import GanPreset

    known = {f.name for f in dataclasses.fields(DDPMPreset if generator == "ddpm" else GanPreset)} - {"kind"}
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise argparse.ArgumentTypeError(f"--set wants KEY=VALUE, got {pair!r}")
        if key not in known:
            raise argparse.ArgumentTypeError(f"{generator} has no setting {key!r}; known: {', '.join(sorted(known))}")
        out[key] = parse_value(value.strip())
    return out


def variants(generator: str) -> dict:
    from helpers.ddpm.presets import VARIANTS as DDPM_VARIANTS
    from helpers.gan.presets import VARIANTS as GAN_VARIANTS

    return DDPM_VARIANTS if generator == "ddpm" else GAN_VARIANTS


def add_arguments(p):
    p.add_argument("generator", choices=list(GENERATORS), help="which generator")
    add_common(p)
    p.add_argument("--steps", type=int, default=None, help="generator steps (default: the profile's preset)")
    p.add_argument("--variant", default=None, help="a named set of preset changes (see the presets modules)")
    p.add_argument("--set", dest="settings", action="append", metavar="KEY=VALUE",
                   help="change one preset setting (repeatable), e.g. --set n_critic=5")
    p.add_argument("--out-name", default=None,
                   help="name of the run and synthetic-set folders (default: the generator's name)")


def run(args):
    from helpers.generators import train_and_export

    try:
        changes = parse_settings(args.settings, args.generator)
    except argparse.ArgumentTypeError as e:
        print(f"error: {e}")
        return 2
    if args.variant:
        known = variants(args.generator)
        if args.variant not in known:
            print(f"error: {args.generator} has no variant {args.variant!r}; known: {', '.join(known) or 'none'}")
            return 2
        changes = {**known[args.variant], **changes}
    steps = changes.pop("steps", None)  # a variant's budget; --steps wins
    steps = args.steps or steps
    cfg = config_from_args(args)
    manifest = train_and_export(args.generator, cfg, out_name=args.out_name, steps=steps, **changes)
    print(f"synthetic set: {manifest}")
    print(f"figure: {write_figure(cfg, manifest, args.out_name or args.generator)}")
    return 0


def write_figure(cfg, manifest, name: str):
    """RUNS/figures/<name>_real_vs_synthetic.png: per class, real training images above
    synthetic ones, so a run from the command line can be looked at straight away."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from helpers.plots import real_vs_synthetic_set, savefig
    from helpers.prepare import load_prepared

    records = load_prepared(cfg, progress=False, verbose=False)
    train = records[records["split"] == "train"]
    fig = real_vs_synthetic_set(manifest, train, cfg.size, title=f"{name}: real training images vs synthetic, "
                                f"{cfg.dataset} {cfg.size} px")
    path = savefig(fig, cfg, f"{name}_real_vs_synthetic")
    plt.close(fig)
    return path
