"""Train a generator on the training part of the prepared split and export a class-balanced
synthetic set to RUNS/synthetic/<generator>/manifest.csv. Interrupted runs resume.

`--variant NAME` applies a named set of changes to the profile's preset (e.g. `busi-cpu` for
the DDPM: BUSI at 64 px in about 20 CPU minutes); `--set KEY=VALUE` (repeatable) changes one
setting on top, e.g. `--set n_critic=5` for a GAN or `--set base=16 --set mults=1,2,4,4` for the
DDPM. A run folder refuses to resume with other settings: give a changed run its own
`--out-name`."""

from helpers.cli import add_common, config_from_args, plain_name_arg, positive_int
from helpers.errors import SettingError
from helpers.generators import GENERATORS
from helpers.settings import parse_text as parse_value  # noqa: F401  (the --set value parser)

NAME = "train"
HELP = "train a generator (wgan, wgan-gp, dcgan, cwgan, ddpm) and export synthetic images"


def parse_settings(pairs: list[str], generator: str, profile: str = "quick") -> dict:
    """KEY=VALUE strings -> {key: value}, each converted to its preset field's type and checked
    against its range (SettingError names the setting, what it wants and what it got)."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SettingError(f"--set wants KEY=VALUE, got {pair!r}")
        out[key] = value.strip()
    return checked(generator, profile, out)


def checked(generator: str, profile: str, changes: dict) -> dict:
    """`changes` as the preset's types; refused by the preset's rules before anything trains."""
    from helpers.ddpm.presets import RULES as DDPM_RULES
    from helpers.ddpm.presets import DDPMPreset
    from helpers.gan.presets import RULES as GAN_RULES
    from helpers.gan.presets import GanPreset, get_preset
    from helpers.settings import check_changes

    if generator == "ddpm":
        out = check_changes(DDPMPreset, changes, DDPM_RULES, "The DDPM")
        from helpers.ddpm.presets import preset

        preset(profile, **out)  # cross-field checks (e.g. ddim_steps <= T)
        return out
    out = check_changes(GanPreset, changes, GAN_RULES, f"The {generator} GAN")
    get_preset(generator, profile, **out)
    return out


def variants(generator: str) -> dict:
    from helpers.ddpm.presets import VARIANTS as DDPM_VARIANTS
    from helpers.gan.presets import VARIANTS as GAN_VARIANTS

    return DDPM_VARIANTS if generator == "ddpm" else GAN_VARIANTS


def check_size(generator: str, size: int, changes: dict, profile: str) -> None:
    """The image sizes this generator's networks can be built for."""
    if generator == "ddpm":
        from helpers.ddpm.presets import preset

        levels = len(preset(profile, **changes).mults) - 1
        if size % 2 ** levels or size // 2 ** levels < 4:
            raise SettingError(f"--size {size}: the DDPM's U-Net halves the image {levels} times and needs at "
                               f"least 4 px at the bottom, so --size must be at least {4 * 2 ** levels}.")
        return
    from helpers.gan.nets import SIZES

    if size not in SIZES:
        raise SettingError(f"--size {size}: the GANs are built for {', '.join(map(str, SIZES))} px.")


def add_arguments(p):
    p.add_argument("generator", choices=list(GENERATORS), help="which generator")
    add_common(p)
    p.add_argument("--steps", type=positive_int, default=None, help="generator steps (default: the profile's preset)")
    p.add_argument("--variant", default=None, help="a named set of preset changes (see the presets modules)")
    p.add_argument("--set", dest="settings", action="append", metavar="KEY=VALUE",
                   help="change one preset setting (repeatable), e.g. --set n_critic=5")
    p.add_argument("--out-name", default=None, type=plain_name_arg,
                   help="name of the run and synthetic-set folders (default: the generator's name); "
                        "a plain name: letters, digits, '.', '_', '-'")


def run(args):
    from helpers.generators import train_and_export

    changes = parse_settings(args.settings, args.generator, args.profile)
    if args.variant:
        known = variants(args.generator)
        if args.variant not in known:
            raise SettingError(f"{args.generator} has no variant {args.variant!r}; known: "
                               f"{', '.join(known) or 'none'}")
        changes = checked(args.generator, args.profile, {**known[args.variant], **changes})
    steps = changes.pop("steps", None)  # a variant's budget; --steps wins
    steps = args.steps or steps
    cfg = config_from_args(args)
    check_size(args.generator, cfg.size, changes, cfg.profile)
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
