"""Each study beside its own generator, and conclusions that say what a run can show."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from helpers.classify import studies as S

GENS = ["wgan", "wgan-gp", "dcgan", "cwgan", "ddpm"]


def test_every_study_is_mapped_to_its_own_generator():
    assert {k: r.generator for k, r in S.STUDY_RUNS.items()} == {
        "WGAN": "wgan", "DCGAN": "dcgan", "BUSI": "wgan-gp", "DDPM": "ddpm", "cWGAN": "cwgan"}
    names = [s.name for s in S.settings_for(GENS)]
    assert len(names) == len(set(names))
    for g in GENS:
        assert f"real+syn:{g}" in names  # every generator compared on the same footing
    assert "real+trad+syn:wgan-gp" in names and "real+trad+syn:cwgan" in names  # BUSI and cWGAN columns
    assert "real+trad+syn:wgan" not in names and "real+trad+syn:dcgan" not in names
    assert [n for n in names if "@" in n] == ["real+syn:ddpm@50", "real+syn:ddpm@125", "real+syn:ddpm@250"]
    assert not [n for n in (s.name for s in S.settings_for(GENS, sweep=False)) if "@" in n]


def test_balancing_follows_each_study():
    from helpers.gan.presets import get_preset

    assert get_preset("wgan", "quick").balance_extra == 50  # the WGAN study: largest class + 50
    assert get_preset("dcgan", "quick").balance_extra == 0  # the DCGAN study: balanced to 437


def _tables(acc: dict, n=100):
    """Pooled and paired tables with a distinct accuracy per setting."""
    pooled = pd.DataFrame([dict(arch="a", setting=s, accuracy=v, accuracy_lo=v - 0.05, accuracy_hi=v + 0.05,
                                n_test=n) for s, v in acc.items()])
    paired = pd.DataFrame([dict(arch="a", setting=s, metric="accuracy", diff=v - acc["real"], lo=v - acc["real"] - 0.04,
                                hi=v - acc["real"] + 0.04, n_test=n) for s, v in acc.items() if s != "real"])
    return pooled, paired


def test_a_study_table_holds_only_its_own_generators_numbers():
    acc = {"real": 0.60, "real+trad": 0.61, **{f"real+syn:{g}": 0.62 + i / 100 for i, g in enumerate(GENS)},
           "real+trad+syn:wgan-gp": 0.70, "real+syn:ddpm@50": 0.71, "real+syn:ddpm@250": 0.72}
    pooled, paired = _tables(acc)
    wgan = S.study_table("WGAN", pooled, paired)
    assert list(wgan["setting"]) == ["real", "real+syn:wgan"]
    assert wgan["ours accuracy [95% CI]"].iloc[1].startswith("0.620")
    assert wgan["published VGG16"].iloc[1] == "0.833 (+0.071)"
    busi = S.study_table("BUSI", pooled, paired)
    assert list(busi["setting"]) == ["real", "real+trad", "real+syn:wgan-gp", "real+trad+syn:wgan-gp"]
    ddpm = S.study_table("DDPM", pooled, paired)
    assert list(ddpm["setting"]) == ["real", "real+syn:ddpm@50", "real+syn:ddpm@250"]  # @125 not run: left out
    assert ddpm["ours vs real [paired 95% CI]"].iloc[2] == "+0.120 [+0.080, +0.160]"
    cw = S.study_table("cWGAN", pooled, paired)
    assert "real+syn:cwgan" not in set(cw["setting"])  # not one of that study's columns


def test_detection_probability():
    assert S.detection_probability(0.08, -0.05, 0.05, 112) == pytest.approx(0.85, abs=0.02)
    assert S.detection_probability(0.02, -0.05, 0.05, 112) == pytest.approx(0.12, abs=0.01)
    # two classifiers that agree on every image: a zero-width interval is not a precise experiment
    assert S.detection_probability(0.004, 0.0, 0.0, 8) < 0.1
    assert S.detection_probability(0.30, 0.0, 0.0, 1000) > 0.99
    assert S.detection_probability(-0.1, -0.2, 0.0, 100) == 0.0


def test_headroom():
    assert S.headroom(1.0, 1.0, 1.0, 0.05, 0.56) == "ceiling"
    assert S.headroom(0.97, 0.95, 0.99, 0.04, 0.56) == "ceiling"  # 1 - 0.99 < 0.04: no room for the gain
    assert S.headroom(0.58, 0.50, 0.66, 0.04, 0.56) == "floor"
    assert S.headroom(0.67, 0.62, 0.72, 0.04, 0.56) == "room"


def test_an_interval_of_width_0_claims_no_precision():
    pooled, paired = _tables({"real": 0.65, "real+syn:ddpm": 0.65})
    paired.loc[:, ["lo", "hi", "diff"]] = 0.0
    line = [x for x in S.paragraph(pooled, paired, [("DDPM", "real+syn:ddpm", 0.06)], 0.56) if x.startswith("- ")][0]
    assert "detects 4 times in 5" not in line and "the interval has no width" in line


def test_the_paragraph_at_the_ceiling_claims_no_detection_power():
    pooled, paired = _tables({"real": 1.0, "real+syn:wgan": 1.0})
    pooled.loc[:, ["accuracy_lo", "accuracy_hi"]] = 1.0
    paired.loc[:, ["lo", "hi", "diff"]] = 0.0
    text = "\n".join(S.paragraph(pooled, paired, [("WGAN study's generator", "real+syn:wgan", 0.05)], 0.56))
    assert "at or near the ceiling" in text
    assert "does not fit under the ceiling" in text
    assert "probability" not in text and "speaks against" not in text


def test_the_paragraph_says_when_an_interval_is_too_wide():
    pooled, paired = _tables({"real": 0.65, "real+syn:ddpm": 0.66, "real+syn:wgan": 0.64})
    paired.loc[paired.setting == "real+syn:ddpm", ["lo", "hi"]] = [-0.10, 0.12]
    paired.loc[paired.setting == "real+syn:wgan", ["lo", "hi"]] = [-0.045, 0.025]
    rows = [("DDPM", "real+syn:ddpm", 0.06), ("WGAN", "real+syn:wgan", 0.10)]
    text = "\n".join(S.paragraph(pooled, paired, rows, 0.56))
    ddpm, wgan = [line for line in text.splitlines() if line.startswith("- ")]
    assert "too small to confirm or rule it out" in ddpm
    assert "speaks against it" in wgan and math.isclose(float(wgan.split("about ")[1].split("%")[0]), 89, abs_tol=1)
    assert "ceiling" not in text and "floor" not in text


def test_notebook_08_and_the_command_run_the_studies_through_one_call():
    """Notebook 08 sets up and runs its grid with the command's call, spells out its modules,
    prints no private function, and stays short (170 code lines at most)."""
    import inspect
    import re
    from pathlib import Path

    import nbformat

    from helpers.commands import classify

    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "08_classifiers.ipynb", as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    lines = [line for src in code for line in src.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(lines) <= 170
    text = "\n".join(code)
    assert text.count("run_studies(") == 1 and "run_studies(" in inspect.getsource(classify)
    assert not re.search(r"import \w+ as [A-Z]\b", text), "modules are imported under their own names"
    assert not re.search(r"getsource\([\w.]*\._", text), "no private function is printed"
    assert sum("### BEGIN SOLUTION" in src for src in code) == 2


def test_each_comparison_says_the_smallest_change_it_could_detect():
    from helpers.classify.bootstrap import detectable_change

    # a 95% interval of half-width 0.1 has a standard error of 0.1 / 1.96; 80% power needs
    # (1.96 + 0.84) standard errors, the textbook "2.8 SE"
    assert detectable_change(-0.1, 0.1) == pytest.approx(2.8016 * 0.1 / 1.959964, abs=1e-4)
    assert detectable_change(-0.1, 0.1, power=0.5) == pytest.approx(0.1, abs=1e-6)
    assert math.isnan(detectable_change(float("nan"), 0.1))
    pooled, paired = _tables({"real": 0.65, "real+syn:ddpm": 0.66})
    paired.loc[paired.setting == "real+syn:ddpm", ["lo", "hi"]] = [-0.10, 0.12]
    line = [x for x in S.paragraph(pooled, paired, [("DDPM", "real+syn:ddpm", 0.06)], 0.56) if x.startswith("- ")][0]
    assert f"detects 4 times in 5: {detectable_change(-0.10, 0.12):.3f}" in line


def test_a_test_set_of_few_patients_is_flagged():
    from helpers.classify.bootstrap import few_groups

    text = few_groups(3, 40)
    assert "only 3 independent groups (40 images)" in text and "as low as 0.00" in text
    assert "as low as 0.84" in few_groups(19, 300)  # 1 - 3/19 = 0.842
    assert few_groups(20, 300) is None


def test_each_studys_gain_in_the_conclusions_is_a_change_its_table_shows():
    """The gain a conclusion quotes for a study is the smallest change in brackets in that
    study's table, in the column it names (the cWGAN study: ICIAR 2018, not BreakHis)."""
    acc = {"real": 0.60, "real+trad": 0.61, **{f"real+syn:{g}": 0.62 for g in GENS}, "real+trad+syn:wgan-gp": 0.7,
           "real+trad+syn:cwgan": 0.7, **{f"real+syn:ddpm@{n}": 0.7 for n in (50, 125, 250)}}
    pooled, paired = _tables(acc)
    for _, setting, gain, where in S.rows_for_conclusions(GENS):
        study = S.GENERATOR_STUDY[setting.split(":")[1].split("@")[0]]
        table = S.study_table(study, pooled, paired)
        syn = table[table["setting"].str.contains("syn")]
        shown = [float(v.split("(")[-1].rstrip(")")) for v in syn[where] if "(" in v]
        assert round(gain, 3) == min(s for s in shown if s > 0), (study, where)
    cw = S.study_table("cWGAN", pooled, paired)
    assert {"published DenseNet201+NASNetMobile+ResNet101 on BreakHis (binary)",
            "published DenseNet201+NASNetMobile+ResNet101 on ICIAR 2018 (4 classes)"} <= set(cw.columns)
    assert S.smallest_published("cWGAN") == (pytest.approx(0.004), "published DenseNet201+NASNetMobile+ResNet101 "
                                                                   "on ICIAR 2018 (4 classes)")
    line = [x for x in S.paragraph(pooled, paired, S.rows_for_conclusions(["cwgan"]), 0.56) if "cwgan" in x][0]
    assert "the study's smallest gain, +0.004 (DenseNet201+NASNetMobile+ResNet101 on ICIAR 2018 (4 classes))" in line


@pytest.mark.parametrize("state", ["floor", "ceiling", "room"])
@pytest.mark.parametrize("lo,hi", [(0.02, 0.12), (-0.12, -0.02), (-0.05, 0.05)])
def test_one_verdict_per_setting(state, lo, hi):
    """A setting is better, worse or not distinguishable, never two of them, and a gain that
    cleared 0 is never also called untestable or too small to confirm."""
    text = S.judgement(state, lo, hi, 112, 0.05, "published X")
    verdicts = ["better than", "above real-only", "worse than", "below real-only", "not distinguishable"]
    assert sum(v in text for v in verdicts) == 1, text
    if lo > 0:
        assert "cannot test" not in text and "too small to confirm" not in text
    if state == "floor":
        assert "floor" in text and "better than" not in text


def test_each_generator_has_one_colour_in_every_comparison_figure():
    from pathlib import Path

    import matplotlib
    import nbformat

    from helpers.classify import figures
    from helpers.plots import setting_color

    acc = {"real": 0.60, "real+trad": 0.61, **{f"real+syn:{g}": 0.62 for g in GENS}, "real+trad+syn:cwgan": 0.7,
           "real+syn:ddpm@50": 0.7}
    pooled, paired = _tables(acc)
    for m in ("f1_macro",):
        pooled[m], pooled[f"{m}_lo"], pooled[f"{m}_hi"] = 0.5, 0.4, 0.6
        paired = pd.concat([paired, paired.assign(metric=m)])
    side = figures.generators_side_by_side(paired, GENS)
    bars = figures.metrics_with_ci(pooled, ["accuracy"])
    colour = {tuple(p.get_facecolor()) for fig in (side, bars) for p in fig.axes[0].patches}
    assert len(colour) == len(GENS) + 2  # real, real + traditional, one per generator (variants share it)
    want = matplotlib.colors.to_rgba(setting_color("real+syn:cwgan"))
    assert setting_color("real+trad+syn:cwgan") == setting_color("real+syn:cwgan")
    assert want in {tuple(p.get_facecolor()) for p in side.axes[0].patches}
    assert setting_color("real+syn:my-own-gan") == setting_color("real+syn:my-own-gan@50")  # a stable spare colour
    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "08_classifiers.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "plt.cm." not in code and "tab10" not in code, "notebook 08 colours settings with setting_color only"
