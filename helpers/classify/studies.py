"""Each published study beside the experiment made with its own generator.

The five studies used five different generators. A study's "+ synthetic" column is only
that study's experiment when the synthetic images come from the generator the study used,
balanced the way it balanced (the balancing lives in each generator's preset:
`balance_extra`). This module maps every study to its generator and data settings, turns
the grid's pooled and paired tables into one table per study with the published numbers
beside ours, and chooses the grid's settings for a set of generators (the grid itself is set
up and run by `helpers.classify.comparison.run_studies`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from helpers.classify import published as P
from helpers.classify.settings import Setting


@dataclass(frozen=True)
class StudyRun:
    study: str          # key of helpers.classify.published.STUDIES
    generator: str      # the course generator that stands for the study's
    settings: tuple     # published setting names compared (e.g. "real+syn", "real+syn@50")
    how: str            # what the synthetic images are, in the study's terms


STUDY_RUNS = {
    "WGAN": StudyRun("WGAN", "wgan", ("real", "real+syn"),
                     "per-class WGAN (weight clipping); every class balanced to the largest + 50, as the study did"),
    "DCGAN": StudyRun("DCGAN", "dcgan", ("real", "real+syn"),
                      "DCGAN for the minority classes only, balanced to the largest class (437 on full BUSI)"),
    "BUSI": StudyRun("BUSI", "wgan-gp", ("real", "real+trad", "real+syn", "real+trad+syn"),
                     "per-class WGAN-GP (the course's stand-in for the study's DAGAN), with and without "
                     "traditional augmentation"),
    "DDPM": StudyRun("DDPM", "ddpm", ("real", "real+syn@50", "real+syn@125", "real+syn@250"),
                     "the class-conditional DDPM, 0 / 50 / 125 / 250 images added per class"),
    "cWGAN": StudyRun("cWGAN", "cwgan", ("real", "real+trad", "real+trad+syn"),
                      "the conditional WGAN-GP, one model for all classes"),
}
GENERATOR_STUDY = {r.generator: name for name, r in STUDY_RUNS.items()}


def our_setting(published_setting: str, generator: str) -> str:
    """'real+syn' -> 'real+syn:<generator>', 'real+syn@50' -> 'real+syn:<generator>@50'."""
    if "syn" not in published_setting:
        return published_setting
    base, _, n = published_setting.partition("@")
    return f"{base}:{generator}" + (f"@{n}" if n else "")


def settings_for(generators, augment: str = "busi_study", scenario=(0, 50, 125, 250), sweep: bool = True) -> list:
    """The grid's settings for `generators`: real and real + traditional once, then for every
    generator real + its images (the comparison across generators), plus what its own study
    needs (+ traditional + synthetic for the BUSI and cWGAN studies; the DDPM's sweep unless
    `sweep` is false). A generator no study used gets the BUSI study's four columns."""
    names = ["real", "real+trad"]
    for g in generators:
        names.append(f"real+syn:{g}")
        run = STUDY_RUNS.get(GENERATOR_STUDY.get(g, ""))
        if run is None:  # a generator of your own: the BUSI study's four columns
            names.append(f"real+trad+syn:{g}")
            continue
        for s in run.settings:
            if "@" in s:
                names += [f"real+syn:{g}@{n}" for n in scenario if n] if sweep else []
            else:
                names.append(our_setting(s, g))
    return [Setting.parse(n, augment) for n in dict.fromkeys(names)]


def _fmt(v, lo, hi, signed=False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(v)} [{f.format(lo)}, {f.format(hi)}]"


def study_table(study: str, pooled: pd.DataFrame, paired: pd.DataFrame, metric: str = "accuracy",
                generator: str | None = None) -> pd.DataFrame:
    """One row per setting of `study`: ours with its 95% CI, ours minus real-only on the same
    test images (paired CI), and each published model's value and change. Settings our grid did
    not run are left out."""
    run = STUDY_RUNS[study]
    gen = generator or run.generator
    pub = P.published(study, metric)
    pool = pooled.set_index("setting") if len(pooled) else pd.DataFrame()
    pair = paired[paired["metric"] == metric].set_index("setting") if len(paired) else pd.DataFrame()
    rows = []
    extra = [s.split(":", 1)[0] + "@" + s.rsplit("@", 1)[1] for s in pool.index
             if s.startswith(f"real+syn:{gen}@") and "@" in "".join(run.settings)]
    for s in sorted(dict.fromkeys([*run.settings, *extra]), key=_order(run.settings)):
        ours = our_setting(s, gen)
        if ours not in pool.index:
            continue
        r = pool.loc[ours]
        row = {"setting": ours, f"ours {metric} [95% CI]": _fmt(r[metric], r[f"{metric}_lo"], r[f"{metric}_hi"])}
        if ours in pair.index:
            d = pair.loc[ours]
            row["ours vs real [paired 95% CI]"] = _fmt(d["diff"], d["lo"], d["hi"], signed=True)
        else:
            row["ours vs real [paired 95% CI]"] = ""
        for model, part in pub.groupby("model", sort=False):
            hit, base = part[part["setting"] == s], part[part["setting"] == "real"]
            label = f"{model}" + (f" ({part['data'].iloc[0]})" if part["data"].nunique() == 1 and study != "BUSI"
                                  and part["data"].iloc[0] != "BUSI" else "")
            row[f"published {label}"] = f"{hit['value'].iloc[0]:.3f}" if len(hit) else ""
            if len(hit) and len(base) and s != "real":
                row[f"published {label}"] += f" ({hit['value'].iloc[0] - base['value'].iloc[0]:+.3f})"
        rows.append(row)
    out = pd.DataFrame(rows)
    return out.loc[:, (out != "").any()] if len(out) else out


def _order(published_settings):
    """Sort key: the study's own settings in its order, then the sweep by size."""
    def key(s):
        n = int(s.split("@")[1]) if "@" in s else 0
        return (0, list(published_settings).index(s), n) if s in published_settings else (1, n, 0)
    return key


def smallest_published_gain(study: str | None = None, metric: str = "accuracy") -> float:
    """The smallest accuracy gain any study (or `study`) reports for adding synthetic images."""
    df = P.published(study, metric)
    gains = []
    for _, part in df.groupby(["study", "data", "model"]):
        base = part[part["setting"] == "real"]["value"]
        syn = part[part["setting"].str.contains("syn")]["value"]
        if len(base) and len(syn):
            gains += list(syn - base.iloc[0])
    gains = [g for g in gains if g > 0]
    return float(min(gains)) if gains else float("nan")


def rows_for_conclusions(generators) -> list[tuple]:
    """(label, our setting, the study's smallest published gain) per generator, for
    helpers.classify.conclusions.paragraph."""
    out = []
    for g in generators:
        study = GENERATOR_STUDY.get(g)
        gain = smallest_published_gain(study) if study else float("nan")
        label = f"{study} study's generator ({g})" if study else g
        out.append((label, f"real+syn:{g}", gain))
        if study in ("BUSI", "cWGAN"):
            out.append((label + " + traditional", f"real+trad+syn:{g}", gain))
        if study == "DDPM":
            out += [(f"{label}, +{n} per class", f"real+syn:{g}@{n}", gain) for n in (50, 125, 250)]
    return out
