"""Train a generator on the training part of the prepared split and export a class-balanced
synthetic set to RUNS/synthetic/<generator>/manifest.csv. Interrupted runs resume.

`--variant NAME` applies a named set of changes to the profile's preset (e.g. `busi-cpu` for
the DDPM: BUSI at 64 px in about 20 CPU minutes); `--set KEY=VALUE` (repeatable) changes one
setting on top, e.g. `--set n_critic=5` for a GAN or `--set base=16 --set mults=1,2,4,4` for the
DDPM. A run folder refuses to resume with other settings: give a changed run its own
`--out-name`."""

from helpers.cli import add_common, add_set, config_from_args, plain_name_arg, preset_changes
from helpers.ddpm.presets import preset as ddpm_preset
from helpers.errors import SettingError
from helpers.flow.presets import preset as flow_preset
from helpers.gan.presets import get_preset
from helpers.generators import GENERATORS, train_and_export
from helpers.presets import Preset

NAME = "train"
HELP = "train a generator (wgan, wgan-gp, dcgan, cwgan, ddpm, flow) and export synthetic images"


def stage_preset(generator: str, profile: str, changes: dict, variant: str | None = None,
                 dataset: str | None = None) -> Preset:
    """The generator's preset for this run: the profile's, a named variant and `changes` on top;
    its own rules refuse a bad setting (SettingError) before anything trains."""
    if generator == "ddpm":
        return ddpm_preset(profile, variant, **changes)
    if generator == "flow":
        return flow_preset(profile, variant, **changes)
    return get_preset(generator, profile, variant=variant, dataset=dataset, **changes)


def check_size(generator: str, size: int, preset: Preset) -> None:
    """The image sizes this generator's networks can be built for."""
    if generator in ("ddpm", "flow"):
        levels = len(preset.mults) - 1
        if size % 2 ** levels or size // 2 ** levels < 4:
            raise SettingError(f"--size {size}: the {'DDPM' if generator == 'ddpm' else 'flow model'}'s U-Net halves the image {levels} times and needs at "
                               f"least 4 px at the bottom, so --size must be at least {4 * 2 ** levels}.")
        return
    from helpers.gan.nets import SIZES

    if size not in SIZES:
        raise SettingError(f"--size {size}: the GANs are built for {', '.join(map(str, SIZES))} px.")


def add_arguments(p):
    p.add_argument("generator", choices=list(GENERATORS), help="which generator")
    add_common(p)
    p.add_argument("--variant", default=None, help="a named set of preset changes (see the presets modules)")
    add_set(p, "n_critic=5", "steps")
    p.add_argument("--out-name", default=None, type=plain_name_arg,
                   help="name of the run and synthetic-set folders (default: the generator's name); "
                        "a plain name: letters, digits, '.', '_', '-'")


def run(args):
    changes = preset_changes(args)  # --steps wins over --set steps= and a variant's
    preset = stage_preset(args.generator, args.profile, changes, args.variant, args.dataset)
    base = stage_preset(args.generator, args.profile, {}, None, args.dataset).as_dict()
    # what the variant and the changes moved, as the preset's types
    changes = {k: getattr(preset, k) for k, v in preset.as_dict().items() if k in changes or v != base[k]}
    cfg = config_from_args(args)
    check_size(args.generator, cfg.size, preset)
    manifest = train_and_export(args.generator, cfg, out_name=args.out_name, steps=changes.pop("steps", None),
                                **changes)
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
