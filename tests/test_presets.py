"""Presets in one shape (helpers.presets): every stage's table holds validated frozen
dataclasses, a bad value is refused where the preset is built, and `--set KEY=VALUE` reaches
every stage that has a preset, as its specific options (--epochs, --workers, ...) do."""

from __future__ import annotations

import dataclasses

import pytest

import helpers.classify.grid as grid
import helpers.pitfalls.experiments as experiments
import helpers.pitfalls.synthetic_in_test as ddpm_study
import helpers.prepare
import helpers.quality.report as quality_report
import helpers.synth
from helpers.classify.presets import PRESETS as GRID
from helpers.cli import main
from helpers.commands import train as train_command
from helpers.config import PROFILE_DATA
from helpers.ddpm.presets import PRESETS as DDPM
from helpers.errors import SettingError
from helpers.gan.presets import DEFAULTS as GAN
from helpers.gan.presets import get_preset
from helpers.pitfalls.presets import PRESETS as PITFALLS
from helpers.pitfalls.presets import STUDY_BUDGETS
from helpers.presets import Preset, Table
from helpers.quality.presets import PRESETS as QUALITY
from helpers.quality.presets import preset as quality_preset

TABLES = {"data": PROFILE_DATA, "grid": GRID, "pitfalls": PITFALLS, "ddpm-study": STUDY_BUDGETS, "quality": QUALITY,
          "ddpm": DDPM}
# one field per stage and a value its rules refuse
BAD = {"data": ("n_folds", 1), "grid": ("bs", 0), "pitfalls": ("lr", -1.0), "ddpm-study": ("seeds", (-1,)),
       "quality": ("calib_quantile", 1.0), "ddpm": ("schedule", "square")}


@pytest.mark.parametrize("stage", TABLES)
def test_every_stage_table_holds_frozen_validated_presets(stage):
    table = TABLES[stage]
    assert isinstance(table, Table) and list(table) == ["smoke", "quick", "paper"]
    for p in table.values():
        assert isinstance(p, Preset) and dataclasses.is_dataclass(p)
        with pytest.raises(dataclasses.FrozenInstanceError):
            p.bs = 3
        assert p.with_() is p and p.with_(**dataclasses.asdict(p)) == p
    name, bad = BAD[stage]
    p = table["quick"]
    # refused in one place: on construction, however the value arrives
    with pytest.raises(SettingError, match=f"{p.what} setting {name} wants .*; got "):
        type(p)(**{**dataclasses.asdict(p), name: bad})
    with pytest.raises(SettingError, match=f"setting {name} wants"):
        p.with_(**{name: bad})
    with pytest.raises(SettingError, match=f"setting {name} wants"):
        table.of("quick", **{name: bad})
    with pytest.raises(SettingError, match=r"has no setting 'nope'; known: .*, "):
        p.with_(nope=1)
    with pytest.raises(SettingError, match=r"Unknown profile 'fast' for .*; choose one of smoke, quick, paper"):
        table.of("fast")


def test_gan_presets_share_the_base():
    for kind, p in GAN.items():
        assert isinstance(p, Preset) and p.kind == kind
        with pytest.raises(SettingError, match=f"The {kind} GAN setting batch wants a whole number >= 1; got 0"):
            dataclasses.replace(p, batch=0)
        with pytest.raises(SettingError, match=f"The {kind} GAN has no setting 'kind'"):
            p.with_(kind="dcgan")
    with pytest.raises(SettingError, match="has no variant 'nope'; known: dcgan-study-lr"):
        get_preset("dcgan", "quick", variant="nope")


def test_text_is_read_as_the_field_type():
    g = GRID["quick"].with_(archs="tiny,resnet18_small", seeds="0,1,2", folds="3", lr="1e-3", epochs="none",
                            class_weights="false", scenario="0,5")
    assert (g.archs, g.seeds, g.folds, g.lr, g.epochs, g.class_weights, g.scenario) == \
        (("tiny", "resnet18_small"), (0, 1, 2), 3, 1e-3, None, False, (0, 5))
    assert GRID["quick"].with_(folds="split").folds == "split" and GRID["quick"].with_(folds="none").folds is None
    assert PITFALLS["quick"].with_(thresholds="0.9,0.97").thresholds == (0.9, 0.97)
    d = PROFILE_DATA["smoke"].with_(phantom_counts="benign:3,normal=2,malignant:2", size="64")
    assert d.phantom_counts == {"benign": 3, "normal": 2, "malignant": 2} and d.size == 64
    assert DDPM["quick"].with_(mults="1,2,4", attn_levels="2,3").mults == (1, 2, 4)
    assert GAN["dcgan"].with_(betas="0,0.9").betas == (0.0, 0.9)
    with pytest.raises(SettingError, match="betas wants 2 comma-separated numbers, each >= 0 and < 1"):
        GAN["dcgan"].with_(betas="0.5")


def test_values_stay_as_they_were():
    assert PROFILE_DATA["smoke"].as_dict() == dict(size=32, phantom_counts={"benign": 21, "normal": 14, "malignant": 14},
                                                      phantom_size=64, n_folds=3,
                                                      description="tests: tiny phantom set, 32 px, a few steps")
    assert list(PROFILE_DATA["quick"].phantom_counts) == ["benign", "normal", "malignant"]  # the order is kept
    g = GRID["smoke"]
    assert (g.archs, g.folds, g.epochs, g.bs, g.lr, g.n_boot, g.threads, g.workers) == (("tiny",), "split", 1, 16, 3e-3,
                                                                                        200, 1, None)
    assert GRID["paper"].epochs is None and GRID["paper"].lr is None and len(GRID["paper"].archs) == 8
    b = ddpm_study.budget("paper")
    assert (b.arch, b.epochs, b.lr, b.bs, b.seeds, b.n_boot) == ("efficientnet_v2_l", 50, 1e-4, 16, (0, 1, 2), 2000)
    q = ddpm_study.budget("quick", epochs=None, seeds=(3,))  # None: not given
    assert (q.arch, q.epochs, q.lr, q.seeds, q.threads, q.workers) == ("tiny", 30, 3e-3, (3,), 1,
                                                                       PITFALLS["quick"].workers)
    assert ddpm_study.scenarios("quick") == (0, 50, 125, 250)


def test_quality_reads_the_runs_changes_from_its_config(smoke_cfg):
    assert quality_preset(smoke_cfg) == QUALITY["smoke"]
    cfg = smoke_cfg.with_(stage_changes={"quality": {"repeats": 3}})
    assert quality_preset(cfg).repeats == 3 and quality_preset("smoke").repeats == QUALITY["smoke"].repeats


class Reached(Exception):
    """Raised by a stand-in for a stage, carrying what the command handed it."""


def _catch(monkeypatch, module, name, pick):
    def stand_in(*args, **kwargs):
        raise Reached(pick(*args, **kwargs))

    monkeypatch.setattr(module, name, stand_in)


def _reach(argv):
    with pytest.raises(Reached) as e:
        main(argv)
    return e.value.args[0]


def _common(cfg):
    return ["--profile", "smoke", "--data-dir", str(cfg.data_dir), "--runs-dir", str(cfg.runs_dir)]


def test_set_reaches_every_stage_as_its_specific_options_do(smoke_cfg, monkeypatch):
    common = _common(smoke_cfg)

    _catch(monkeypatch, train_command, "train_and_export", lambda name, cfg, out_name=None, steps=None, **kw: dict(kw, steps=steps))
    assert _reach(["train", "ddpm", *common, "--set", "base=4", "--set", "mults=1,2", "--set", "steps=3"]) == \
        {"base": 4, "mults": (1, 2), "steps": 3}
    assert _reach(["train", "wgan", *common, "--set", "steps=3", "--steps", "5"]) == {"steps": 5}  # the option wins

    _catch(monkeypatch, grid, "run_grid", lambda cfg, records, cells, preset, **kw: preset)
    argv = ["classify", *common, "--generators", "none", "--settings", "real"]
    assert _reach(argv + ["--set", "epochs=3", "--set", "bs=8"]) == GRID["smoke"].with_(epochs=3, bs=8)
    assert _reach(argv + ["--epochs", "3", "--set", "bs=8"]) == GRID["smoke"].with_(epochs=3, bs=8)
    assert _reach(argv + ["--workers", "2"]).workers == _reach(argv + ["--set", "workers=2"]).workers == 2

    monkeypatch.setattr(experiments, "load", lambda cfg: (None, None, None))
    _catch(monkeypatch, experiments, "near_duplicates", lambda cfg, preset, *a, **kw: preset)
    assert _reach(["pitfalls", *common, "--set", "repeats=1", "--set", "seeds=0,1"]) == \
        PITFALLS["smoke"].with_(repeats=1, seeds=(0, 1))
    assert _reach(["pitfalls", *common, "--repeats", "1", "--seeds", "0,1"]) == \
        PITFALLS["smoke"].with_(repeats=1, seeds=(0, 1))

    monkeypatch.setattr(ddpm_study, "synthetic_set", lambda *a, **kw: None)
    _catch(monkeypatch, ddpm_study, "run", lambda cfg, preset, *a, **kw: preset)
    assert _reach(["ddpm-study", *common, "--set", "syn_test_frac=0.5", "--epochs", "2"]) == \
        STUDY_BUDGETS["smoke"].with_(syn_test_frac=0.5, epochs=2)

    monkeypatch.setattr(helpers.synth, "find_manifests", lambda runs_dir: {"dcgan": "manifest.csv"})
    monkeypatch.setattr(helpers.prepare, "load_prepared", lambda cfg, **kw: None)
    _catch(monkeypatch, quality_report, "score_sets", lambda cfg, *a, **kw: quality_preset(cfg))
    assert _reach(["quality", *common, "--exported", "--set", "repeats=3"]) == QUALITY["smoke"].with_(repeats=3)

    _catch(monkeypatch, helpers.prepare, "prepare", lambda cfg, **kw: cfg)
    cfg = _reach(["prepare", *common, "--set", "n_folds=4", "--set", "size=64"])
    assert (cfg.n_folds, cfg.size) == (4, 64)
    assert _reach(["prepare", *common, "--folds", "4"]).n_folds == 4


@pytest.mark.parametrize("argv", [["train", "wgan"], ["train", "ddpm"], ["classify"], ["pitfalls"], ["ddpm-study"],
                                  ["quality"], ["prepare"]])
def test_every_command_with_a_preset_refuses_a_bad_set_in_one_line(smoke_cfg, capsys, argv):
    assert main(argv + _common(smoke_cfg) + ["--set", "nonsense=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and "has no setting 'nonsense'; known: " in err
    assert not (smoke_cfg.runs_dir / "data").exists()  # refused before any work
