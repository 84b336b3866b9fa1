"""The paper profile, study by study: each study's own experiment under the honest protocol.

One row per study (`DESIGNS`): its classifiers, its data settings (its generator's columns in
`helpers.classify.studies.STUDY_RUNS`), its data set, and the folds and seeds it runs on. Each
architecture trains with its study's recipe (`helpers.classify.models.STUDY_TRAINING`: epochs,
Adam's learning rate as the one-cycle peak, batch). Every row names the section of
docs/studies.md it follows; that page's "The paper profile, study by study" shows this table
with the confidence intervals it gives (`design_table`).

Expected 95% half-widths, before anything runs (`half_widths`), for a pooled accuracy p on n
distinct real test images (the first `folds` of the prepared ten, each image tested once) and
S seeds:
    accuracy:          z sqrt(p (1 - p) / n)
    paired difference: z sqrt(p (1 - p) (1 + 1/S) / n)
The accuracy interval is set by the test images: a hard image stays hard for every seed, so
seeds do not narrow it. The paired one (a setting minus real-only on the same images) starts,
with one seed, at two independent classifiers' disagreement, 2 p (1 - p) per image, and
repeated seeds average the training noise in it away down to one classifier's binomial
p (1 - p) (half the disagreement taken as noise, half as the images' own). p is the lowest
real-only accuracy the study published for the architectures we train (the widest interval).
These are planning figures; the reported intervals are the group bootstrap's
(`helpers.classify.grid.paired_table`), wider where images come in groups (BreakHis: 82
patients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from helpers.classify import published as P
from helpers.classify.models import STUDY_TRAINING
from helpers.classify.settings import SPLIT, Setting
from helpers.classify.studies import STUDY_RUNS, our_setting
from helpers.config import PROFILE_DATA
from helpers.data import breakhis, busi_fetch, minimias
from helpers.errors import SettingError

Z = 1.959964
MAX_RUNS = 1000  # the whole design, every study together (tests/test_classify_plan.py)


@dataclass(frozen=True)
class StudyDesign:
    study: str           # key of STUDY_RUNS
    section: str         # the section of docs/studies.md it follows
    dataset: str         # the study's own data (`--dataset`)
    published_data: str  # its data in helpers.classify.published
    archs: tuple         # its classifiers, as the course names them
    folds: int           # the first n of the prepared folds
    seeds: int           # seeds 0 .. n-1
    optional: bool = False  # run only when a copy of its data is given
    why: str = ""        # how the folds and seeds were chosen

    @property
    def generator(self) -> str:
        return STUDY_RUNS[self.study].generator

    def setting_names(self) -> list[str]:
        """Our names of the study's data settings, e.g. real, real+syn:ddpm@50."""
        return [our_setting(s, self.generator) for s in STUDY_RUNS[self.study].settings]

    def settings(self, augment: str = "busi_study") -> list[Setting]:
        return [Setting.parse(s, augment) for s in self.setting_names()]


DESIGNS = {d.study: d for d in (
    # docs/studies.md section 1: VGG16, ResNet50, MobileNetV2 (YOLOv8-cls needs the optional
    # ultralytics extra); the study gives no classifier epochs: each network's study recipe.
    StudyDesign("WGAN", "1. The WGAN study (Diyasa et al.)", "busi", "BUSI", ("vgg16_bn", "resnet50", "mobilenet_v2"),
                folds=10, seeds=2, why="every BUSI image tested once; 2 seeds: VGG16's +0.07 is detected, "
                                       "ResNet50's +0.05 about 7 times in 10"),
    # section 2: MobileNetV2, 10-fold cross-validation, 20 epochs per fold.
    StudyDesign("DCGAN", "2. The DCGAN study (Samrin)", "busi", "BUSI", ("mobilenet_v2",), folds=10, seeds=3,
                why="the study's 10 folds and 3 seeds; its +0.015 is below what BUSI's 780 images can show"),
    # section 3: the AlexNet-like CNN (Adam 1e-4, 60 epochs) and VGG16, Inception, ResNet (Adam
    # 1e-3, 10 epochs); NASNet has no torchvision model. Four data settings.
    StudyDesign("BUSI", "3. The BUSI study (Al-Dhabyani et al. 2020)", "busi", "BUSI",
                ("alexnet_style", "vgg16_bn", "inception_v3", "resnet50"), folds=5, seeds=2,
                why="its synthetic gains are large (+0.10 to +0.15): half the images and 2 seeds detect them"),
    # section 4: EfficientNetV2 (S for L), Adam 1e-4, batch 16, 50 epochs; the 0/50/125/250 sweep.
    StudyDesign("DDPM", "4. The DDPM study (Sutjiadi et al.)", "minimias", "INbreast", ("efficientnet_v2_s",),
                folds=10, seeds=3, why="mini-MIAS is small (322 images): every image and 3 seeds; +0.06 about 7 times in 10"),
    # section 5: the multi-scale fusion, Adam 1e-4, 50 epochs, batch 32; BreakHis binary.
    StudyDesign("cWGAN", "5. The cWGAN study (Deebani et al.)", "breakhis", "BreakHis (binary)", ("fusion",),
                folds=3, seeds=1, optional=True,
                why="BreakHis is large (7,909 images): 3 folds give about +-0.006 (wider with its 82 patients)"),
)}


def design(name: str) -> StudyDesign:
    """The design of study `name` (case-insensitive); a one-line error naming the studies."""
    for key, d in DESIGNS.items():
        if str(name).lower() == key.lower():
            return d
    raise SettingError(f"--study: unknown study {name!r}; choose one of {', '.join(DESIGNS)}.")


def known_counts(dataset: str, profile: str) -> dict | None:
    """Images per class of a data set the course knows without reading it (its release's
    counts; the phantom's are the profile's), or None."""
    return {"busi": busi_fetch.EXPECTED_COUNTS, "minimias": minimias.EXPECTED, "breakhis": breakhis.EXPECTED,
            "phantom": PROFILE_DATA[profile].phantom_counts}.get(dataset)


def half_widths(n_test: int, p: float, seeds: int) -> tuple[float, float]:
    """(accuracy, paired difference) expected 95% half-widths (see the module's note)."""
    if n_test <= 0:
        return float("nan"), float("nan")
    return Z * math.sqrt(p * (1 - p) / n_test), Z * math.sqrt(p * (1 - p) * (1 + 1 / max(1, seeds)) / n_test)


def _published(d: StudyDesign):
    df = P.published(d.study, "accuracy", d.published_data)
    ours = df[df["arch"].isin(d.archs)]
    return ours if len(ours) else df


def expected_accuracy(d: StudyDesign) -> float:
    """The lowest real-only accuracy the study published for our architectures (or any)."""
    df = _published(d)
    return float(df[df["setting"] == "real"]["value"].min())


def smallest_gain(d: StudyDesign) -> float:
    """The smallest accuracy gain the study published for a synthetic setting, on our architectures."""
    df = _published(d)
    gains = []
    for _, part in df.groupby("model"):
        base = part[part["setting"] == "real"]["value"]
        syn = part[part["setting"].str.contains("syn")]["value"]
        gains += list(syn - base.iloc[0]) if len(base) else []
    return min(gains) if gains else float("nan")


def detection_power(gain: float, paired_hw: float) -> float:
    """Chance that a true gain of `gain` gives a paired 95% interval above 0: Phi(gain / se - z)."""
    if not (gain > 0 and paired_hw > 0):
        return float("nan")
    return 0.5 * (1 + math.erf((gain / (paired_hw / Z) - Z) / math.sqrt(2)))


def choices(d: StudyDesign, profile: str, preset) -> dict:
    """The study's runs as `helpers.classify.comparison.study_grid` takes them. On the paper
    profile its own architectures, folds and seeds; elsewhere the profile's (CPU stand-ins)."""
    own = profile == "paper"
    return dict(archs=list(d.archs if own else preset.archs), generators=[d.generator],
                settings=d.settings(preset.augment),
                folds=list(range(d.folds)) if own else None, seeds=list(range(d.seeds)) if own else None)


def n_test_images(d: StudyDesign, profile: str, folds=None) -> int:
    """Distinct real test images of the design (from the data set's known counts)."""
    counts = known_counts(d.dataset, profile) or {}
    n, n_folds = sum(counts.values()), PROFILE_DATA[profile].n_folds
    folds = list(range(d.folds)) if folds is None else folds
    return int(round(n * (0.15 if folds == [SPLIT] else len(folds) / n_folds)))


def design_table(profile: str = "paper"):
    """One row per study: data, classifiers (with their epochs and learning rate), settings,
    folds x seeds, runs, and the expected half-widths at its published accuracy."""
    import pandas as pd

    rows = []
    for d in DESIGNS.values():
        n, p = n_test_images(d, profile), expected_accuracy(d)
        acc, paired = half_widths(n, p, d.seeds)
        recipes = ", ".join(f"{a} ({STUDY_TRAINING[a]['epochs']} ep, {STUDY_TRAINING[a]['lr']:g})" for a in d.archs)
        rows.append(dict(study=d.study, data=d.dataset, classifiers=recipes, settings=", ".join(d.setting_names()),
                         folds=d.folds, seeds=d.seeds, runs=len(d.archs) * len(d.setting_names()) * d.folds * d.seeds,
                         test_images=n, published_accuracy=p, accuracy_hw=acc, paired_hw=paired,
                         smallest_published_gain=smallest_gain(d),
                         power=detection_power(smallest_gain(d), paired), section=d.section))
    return pd.DataFrame(rows)


def design_markdown(profile: str = "paper") -> list[str]:
    """`design_table` as the Markdown table of docs/studies.md (a test keeps them equal)."""
    lines = ["| study | data | classifiers (epochs, Adam's peak lr) | settings | folds x seeds | runs | test images "
             "| published real-only accuracy | expected +- accuracy | expected +- paired | smallest published gain "
             "(chance to detect it) |", "|" + "---|" * 11]
    for r in design_table(profile).itertuples():
        lines.append(f"| {r.study} | {r.data} | {r.classifiers} | {r.settings} | {r.folds} x {r.seeds} | {r.runs} "
                     f"| {r.test_images} | {r.published_accuracy:.3f} | {r.accuracy_hw:.3f} | {r.paired_hw:.3f} "
                     f"| {r.smallest_published_gain:+.3f} ({r.power:.0%}) |")
    return lines
