"""The studies' comparison in one call: notebook 08 and `python -m helpers classify`.

`study_grid` chooses the runs (architecture x data setting x fold x seed): by default every
generator beside its own study (`helpers.classify.studies.settings_for`) on the profile's
folds, plus the DDPM study's sweep on its first `scenario_folds` folds; or the settings asked
for. It refuses unknown architectures, generators and folds before anything trains.
`run_studies` runs that grid (finished runs are read back) and returns a `Comparison`: its
result rows and, computed when first asked for, its predictions, pooled and paired tables,
the DDPM sweep's table, one table per study beside its published numbers, and the conclusions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import pandas as pd
import torch

from helpers.classify import grid as grids
from helpers.classify import studies
from helpers.classify.engine import HISTORY
from helpers.classify.grid import load_predictions, paired_table, pooled_table
from helpers.classify.metrics import majority_share
from helpers.classify.models import ARCHITECTURES
from helpers.classify.presets import PRESETS
from helpers.classify.published import STUDIES
from helpers.classify.settings import SPLIT, Setting, fold_list, plan, run_id, scenario_settings
from helpers.classify.synthetic import available_generators
from helpers.errors import SettingError
from helpers.generators import GENERATORS
from helpers.prepare import load_prepared
from helpers.synth import find_manifests


@dataclass
class StudyGrid:
    """The runs of a comparison, and how they were chosen."""

    preset: dict
    archs: list
    generators: list
    folds: list
    seeds: list
    main: list         # settings run on every fold
    sweep: list        # the DDPM study's sweep (real first), run on sweep_folds
    sweep_folds: list
    runs: list         # (arch, Setting, fold, seed)

    @property
    def where(self) -> str:
        return "the grouped train/test split" if self.folds == [SPLIT] else f"grouped folds {self.folds}"

    def summary(self) -> str:
        names = [s.name for s in dict.fromkeys(r[1] for r in self.runs)]
        return (f"{len(self.runs)} runs on {self.where}: archs={self.archs} generators={self.generators} "
                f"settings={names} seeds={self.seeds} epochs={self.preset.epochs} threads={torch.get_num_threads()}")


def check_names(cfg, archs, generators, settings, folds, records) -> None:
    """Refuse unknown architectures, generators and folds before any run trains. A generator
    is known when the course can train it or a synthetic set of that name is already exported."""
    for a in archs:
        if a not in ARCHITECTURES:
            raise SettingError(f"--archs: unknown architecture {a!r}; choose from {', '.join(ARCHITECTURES)}.")
    exported = {re.sub(r"-fold\d+$", "", name) for name in find_manifests(cfg.runs_dir)}
    for g in list(generators) + [s.generator for s in settings if s.generator]:
        if g not in GENERATORS and g not in exported:
            raise SettingError(f"unknown generator {g!r}; choose from {', '.join(GENERATORS)}, or a synthetic set "
                               f"under {cfg.runs_dir / 'synthetic'} (or --generators none).")
    have = sorted(int(f) for f in records["fold"].unique())
    bad = [f for f in folds if f != SPLIT and f not in have]
    if bad:
        raise SettingError(f"--folds: the prepared table has folds {have[0]}-{have[-1]}, not {bad}.")


def study_grid(cfg, records: pd.DataFrame, preset=None, archs=None, generators="all", settings=None,
               folds=None, seeds=None, scenario: bool = False) -> StudyGrid:
    """The runs to make (see the module's note). generators: "all" (every generator the course
    trains), "none", or names; settings: names (or Settings) instead of each study's columns, with
    `scenario` adding the DDPM sweep for the DDPM (or the first generator); folds/seeds/archs
    default to the preset's."""
    preset = preset or PRESETS[cfg.profile]
    archs = list(archs or preset.archs)
    if isinstance(generators, str):
        gens = available_generators() if generators == "all" else [g for g in generators.split(",") if g and g != "none"]
    else:
        gens = list(generators or [])
    chosen = [s if isinstance(s, Setting) else Setting.parse(s, preset.augment) for s in settings or []]
    folds = list(folds) if folds else fold_list(records, preset.folds)
    seeds = list(seeds) if seeds else list(preset.seeds)
    check_names(cfg, archs, gens, chosen, folds, records)
    sweep_folds = folds[: preset.scenario_folds or None]
    if chosen:
        main, g = chosen, ("ddpm" if "ddpm" in gens else gens[0]) if scenario and gens else None
    else:
        main = studies.settings_for(gens, preset.augment, preset.scenario, sweep=False)
        g = "ddpm" if "ddpm" in gens else None
    sweep = scenario_settings(g, preset.scenario) if g else []
    runs = plan(records, archs, main, folds, seeds)
    runs += [r for r in plan(records, archs, [s for s in sweep if s not in main], sweep_folds, seeds) if r not in runs]
    return StudyGrid(preset, archs, gens, folds, seeds, main, sweep, sweep_folds, runs)


def run_studies(cfg, records: pd.DataFrame | None = None, pretrained="auto", executor: str = "local",
                progress: bool = True, ray_options: dict | None = None, **choices) -> Comparison:
    """Set up (`study_grid(cfg, records, **choices)`) and run the studies' grid; returns its
    `Comparison`. `executor`/`ray_options` as `run_grid`'s."""
    records = load_prepared(cfg) if records is None else records
    grid = study_grid(cfg, records, **choices)
    if progress:
        print(grid.summary())
    results = grids.run_grid(cfg, records, grid.runs, grid.preset, pretrained=pretrained, progress=progress,
                       executor=executor, **(ray_options or {}))
    wanted = {run_id(a, s.name, f, sd) for a, s, f, sd in grid.runs}
    return Comparison(cfg, grid, results[results["run"].isin(wanted)].reset_index(drop=True))


@dataclass
class Comparison:
    """A finished studies' grid and its tables (each computed when first asked for)."""

    cfg: object
    grid: StudyGrid
    results: pd.DataFrame  # one row per run of the grid

    def _tab(self, fn, preds, **kw):
        return fn(preds, self.cfg.classes, n_boot=self.grid.preset.n_boot, seed=self.cfg.seed, **kw)

    @cached_property
    def preds(self) -> pd.DataFrame:
        """Every run's test predictions."""
        return load_predictions(grids.classify_dir(self.cfg), self.results)

    @cached_property
    def main(self) -> pd.DataFrame:
        """Predictions of the settings run on every fold."""
        return self.preds[self.preds["setting"].isin([s.name for s in self.grid.main])]

    @cached_property
    def sweep_preds(self) -> pd.DataFrame:
        """Predictions of the DDPM sweep (real-only included) on its folds."""
        p = self.preds
        return p[p["setting"].isin([s.name for s in self.grid.sweep]) & p["fold"].isin(self.grid.sweep_folds)]

    @cached_property
    def pooled(self) -> pd.DataFrame:
        """One row per (arch, setting) of `main`, pooled over folds, with bootstrap CIs."""
        return self._tab(pooled_table, self.main)

    @cached_property
    def paired(self) -> pd.DataFrame:
        """Every setting minus real-only on the same test images (paired CIs), the sweep's too."""
        sc = self.sweep_preds
        return self._tab(paired_table, pd.concat([self.main, sc[~sc["setting"].isin(self.main["setting"])]]))

    @cached_property
    def pooled_all(self) -> pd.DataFrame:
        """`pooled` and the sweep's settings below it."""
        sc = self.sweep_preds
        return pd.concat([self.pooled, self._tab(pooled_table, sc[sc["setting"] != "real"])], ignore_index=True)

    @cached_property
    def sweep_table(self) -> pd.DataFrame:
        """The sweep pooled per setting, with its images per class and synthetic images trained on."""
        t = self._tab(pooled_table, self.sweep_preds)
        if t.empty:
            return t
        t["per_class"] = t["setting"].map({s.name: s.per_class or 0 for s in self.grid.sweep})
        syn = self.results[self.results["setting"].isin(t["setting"])].groupby("setting")["n_train_synth"].mean()
        return t.assign(n_train_synth=t["setting"].map(syn)).sort_values("per_class").reset_index(drop=True)

    def histories(self) -> pd.DataFrame:
        """Every run's per-epoch history (its history.csv) with its run, arch, setting, fold and seed."""
        return load_predictions(grids.classify_dir(self.cfg), self.results, HISTORY)

    def study_tables(self) -> dict:
        """{study: (caption, table beside its published numbers)} for the studies whose generator ran."""
        out = {}
        for name, run in studies.STUDY_RUNS.items():
            if run.generator in self.grid.generators:
                out[name] = (f"**{name} study**: {STUDIES[name]}. Ours: {run.how}.",
                             studies.study_table(name, self.pooled_all, self.paired))
        return out

    def conclusions(self) -> list[str]:
        """The paragraph of `helpers.classify.studies.paragraph`, computed from these tables."""
        main, pooled = self.main, self.pooled
        real = main[main["setting"] == "real"]
        by_image = {s: d.sort_values(["fold", "seed", "path"])["pred"].to_numpy() for s, d in main.groupby("setting")}
        same = all(len(v) == len(real) and (v == by_image["real"]).all() for v in by_image.values())
        context = (f"On {self.cfg.dataset} ({self.cfg.size} px, {pooled['arch'].iloc[0]}, "
                   f"{'ImageNet weights' if self.results['pretrained'].any() else 'random initialisation'}, "
                   f"{self.grid.where}), ")
        rows = [("traditional augmentation", "real+trad", float("nan"))] + studies.rows_for_conclusions(self.grid.generators)
        return studies.paragraph(self.pooled_all, self.paired, rows, majority_share(real["label"]), context, same)
