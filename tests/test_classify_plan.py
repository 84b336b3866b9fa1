"""classify --plan: costs measured through the training code, multiplied out, before anything runs;
the paper profile planned study by study."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers.classify import plan as P
from helpers.classify import study_designs as SD
from helpers.classify import timing as T
from helpers.classify.settings import Setting

TOTAL = re.compile(r"^total: (\d+) runs, (\d+) generator trainings, ([\d.]+) (?:GPU-)?hours on (.+) "
                   r"\((?:1 GPU|1 device)\), ([\d.]+) h on 4$")
DOCS = Path(__file__).resolve().parents[1] / "docs" / "studies.md"


@pytest.fixture
def fixed_costs(monkeypatch):
    """Every measured cost stubbed: a batch 0.01 s (evaluation 0.005 s, 1 s a run), a generator step 0.02 s."""
    monkeypatch.setattr(T, "time_classifier", lambda *a, **k: T.RunCost(0.01, 0.005, 1.0))
    monkeypatch.setattr(T, "time_generator_step", lambda *a, **k: 0.02)


def _cli(*argv):
    from helpers.cli import main

    return main(["classify", *argv])


def _paper_plan(capsys, tmp_path, *extra):
    rc = _cli("--plan", "--profile", "paper", "--runs-dir", str(tmp_path / "runs"), *extra)
    out = capsys.readouterr()
    assert rc == 0, out.err
    return out.out


def test_plan_prints_runs_costs_and_a_projection(smoke_cfg, capsys):
    rc = _cli("--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir", str(smoke_cfg.runs_dir),
              "--generators", "wgan", "--plan")
    assert rc == 0
    out = capsys.readouterr().out
    assert "timing tiny" in out and "projected" in out.lower()
    assert not (smoke_cfg.runs_dir / "classify" / "results.csv").exists()  # nothing was trained


def test_a_batch_is_timed_through_the_training_code_on_the_tiny_network(smoke_cfg, monkeypatch):
    calls = []
    real = T.fit_predict

    def spy(cfg, recipe, train, evaluate, seed, **kw):
        calls.append((recipe.arch, recipe.bs, recipe.augment, len(train), len(evaluate)))
        return real(cfg, recipe, train, evaluate, seed, **kw)

    monkeypatch.setattr(T, "fit_predict", spy)
    cost = T.time_classifier(smoke_cfg, "tiny", 16, "busi_study")
    assert cost.train > 0 and cost.evaluate >= 0 and cost.fixed >= 0
    b = T.CPU_TIMING_BATCH  # on a CPU the batch is timed small and scaled to 16
    assert {c[:3] for c in calls} == {("tiny", b, "busi_study")}
    r, lengths = T.REPEATS, sorted(c[3] for c in calls)  # each training the fastest of r
    assert lengths.count(b) == 1 + 2 * r  # the warm-up, the one-batch training, the evaluation ones
    assert set(lengths) - {b} <= {b * (1 + m) for m in (2, 8, 32, 128)}  # 1 + m batches, m grown by 4


def test_generator_steps_are_timed_through_the_training_loops(smoke_cfg, monkeypatch):
    """The DDPM through train_ddpm (autocast, its EMA), a GAN through prepare_run, each on a small batch."""
    seen = []
    real_ddpm, real_gan = T.train_ddpm, T.prepare_run
    monkeypatch.setattr(T, "train_ddpm", lambda *a, **k: seen.append(("ddpm", a[3].batch)) or real_ddpm(*a, **k))
    monkeypatch.setattr(T, "prepare_run", lambda *a, **k: seen.append((a[0], k["batch"])) or real_gan(*a, **k))
    assert T.time_generator_step("wgan-gp", smoke_cfg, 3) > 0
    assert T.time_generator_step("ddpm", smoke_cfg, 3) > 0
    assert {s[0] for s in seen} == {"wgan-gp", "ddpm"} and all(b <= T.CPU_TIMING_BATCH for _, b in seen)


def test_the_sweep_adds_n_images_of_every_class_and_a_balancing_set_tops_classes_up():
    counts = {"benign": 100, "normal": 30, "malignant": 50}
    assert P.synthetic_images(counts, Setting.parse("real+syn:ddpm@50"), "paper", "busi") == 3 * 50
    assert P.synthetic_images(counts, Setting.parse("real+syn:dcgan"), "paper", "busi") == 70 + 50  # to 100
    assert P.synthetic_images(counts, Setting.parse("real+syn:wgan"), "paper", "busi") == 50 + 120 + 100  # to 150
    assert P.generator_models("dcgan", counts, "paper", "busi") == 2  # the largest class needs none
    assert P.generator_models("wgan", counts, "paper", "busi") == 3


def test_gpu_plan_packs_each_architecture_at_its_own_measured_share(smoke_cfg, monkeypatch, fixed_costs):
    """On GPUs the wall time divides by the runs at once, each run slowed by its own network's
    packing; the cluster line uses the same costs on CLUSTER_GPUS GPUs. No GPU here: stubbed."""
    from helpers.classify.presets import PRESETS
    from helpers.classify.settings import plan
    from helpers.prepare import load_prepared

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    monkeypatch.setattr(T, "packing_efficiency", lambda cfg, arch, bs, runs=4, compile=None: {"tiny": 0.75, "resnet18_small": 0.5}[arch])
    monkeypatch.setattr(P.torch.cuda, "device_count", lambda: 1)
    cfg = smoke_cfg.with_(device="cuda")
    runs = plan(records, ["tiny", "resnet18_small"], [Setting.parse("real", "none")], [0], [0, 1])
    out = P.make_plan(cfg, records, runs, PRESETS["smoke"], workers=4, progress=False)
    s, t = out["summary"], out["runs"]
    assert s["gpus"] == 1 and s["workers"] == 4
    assert abs(s["wall_hours"] * 3600 * 4 - (t["seconds"] / t["arch"].map({"tiny": 0.75, "resnet18_small": 0.5})).sum()) < 1e-9
    c = s["cluster"]
    assert c["gpus"] == P.CLUSTER_GPUS and c["workers"] == P.CLUSTER_GPUS * 4
    assert abs(c["wall_hours"] * P.CLUSTER_GPUS - s["wall_hours"]) < 1e-12


def test_the_study_design_is_each_study_as_docs_studies_md_records_it():
    from helpers.classify.models import STUDY_TRAINING

    d = SD.DESIGNS
    assert list(d) == ["WGAN", "DCGAN", "BUSI", "DDPM", "cWGAN"]
    assert (d["WGAN"].dataset, d["WGAN"].archs) == ("busi", ("vgg16_bn", "resnet50", "mobilenet_v2"))
    assert d["WGAN"].setting_names() == ["real", "real+syn:wgan"]
    assert (d["DCGAN"].dataset, d["DCGAN"].archs, d["DCGAN"].folds) == ("busi", ("mobilenet_v2",), 10)  # 10-fold CV
    assert d["DCGAN"].setting_names() == ["real", "real+syn:dcgan"]
    assert set(d["BUSI"].archs) == {"alexnet_style", "vgg16_bn", "inception_v3", "resnet50"}
    assert d["BUSI"].setting_names() == ["real", "real+trad", "real+syn:wgan-gp", "real+trad+syn:wgan-gp"]
    assert (d["DDPM"].dataset, d["DDPM"].archs) == ("minimias", ("efficientnet_v2_s",))
    assert d["DDPM"].setting_names() == ["real", "real+syn:ddpm@50", "real+syn:ddpm@125", "real+syn:ddpm@250"]
    assert (d["cWGAN"].dataset, d["cWGAN"].archs, d["cWGAN"].optional) == ("breakhis", ("fusion",), True)
    assert d["cWGAN"].setting_names() == ["real", "real+trad", "real+trad+syn:cwgan"]
    # the recipes the studies record (section 2: 20 epochs; 3: 60 epochs at 1e-4; 4: batch 16, 50 epochs, 1e-4)
    assert STUDY_TRAINING["mobilenet_v2"]["epochs"] == 20
    assert (STUDY_TRAINING["alexnet_style"]["epochs"], STUDY_TRAINING["alexnet_style"]["lr"]) == (60, 1e-4)
    assert {k: STUDY_TRAINING["efficientnet_v2_s"][k] for k in ("epochs", "lr", "bs")} == dict(epochs=50, lr=1e-4, bs=16)
    assert (STUDY_TRAINING["fusion"]["epochs"], STUDY_TRAINING["fusion"]["lr"]) == (50, 1e-4)
    text = DOCS.read_text()
    for design in d.values():  # each row traced to its section, and the page shows the table as computed
        assert f"\n## {design.section}\n" in text
    assert "\n".join(SD.design_markdown()) in text


def test_the_design_has_at_most_1000_runs_and_the_docs_count_them(fixed_costs, tmp_path, capsys):
    runs = int(SD.design_table()["runs"].sum())
    assert runs <= SD.MAX_RUNS
    trained = int(TOTAL.match(_paper_plan(capsys, tmp_path).strip().splitlines()[-1]).group(1))
    assert trained <= runs
    assert f"{runs} runs in all, {trained} trained" in DOCS.read_text()


def test_half_widths_narrow_with_test_images_and_the_paired_one_with_seeds():
    acc, one = SD.half_widths(400, 0.8, 1)
    assert acc == pytest.approx(SD.Z * (0.8 * 0.2 / 400) ** 0.5)
    assert one == pytest.approx(acc * 2 ** 0.5)  # one seed: two independent classifiers' disagreement
    assert SD.half_widths(400, 0.8, 3)[1] < one and SD.half_widths(400, 0.8, 10 ** 6)[1] == pytest.approx(acc, rel=1e-5)
    assert SD.half_widths(1600, 0.8, 1)[0] == pytest.approx(acc / 2)


def test_the_paper_plan_has_one_row_per_study_and_a_total_line_that_sums_them(fixed_costs, tmp_path, capsys):
    from helpers.classify.presets import PRESETS
    from helpers.classify.study_plan import make_study_plan
    from helpers.config import resolve

    out = _paper_plan(capsys, tmp_path)
    lines = out.strip().splitlines()
    m = TOTAL.match(lines[-1])
    assert m and m.group(4) == "cpu", lines[-1]
    for name in SD.DESIGNS:
        assert any(line.split()[:1] == [name] for line in lines), name
    assert not (tmp_path / "runs").exists()  # nothing prepared, nothing written
    cfg = resolve("paper", "phantom", runs_dir=tmp_path / "runs")
    plan = make_study_plan(cfg, list(SD.DESIGNS.values()), PRESETS["paper"], progress=False)
    rows = plan["rows"]
    assert int(m.group(1)) == rows["runs"].sum() and int(m.group(2)) == rows["generators"].sum()
    assert float(m.group(3)) == pytest.approx(rows["hours"].sum(), abs=0.01)
    assert float(m.group(5)) >= float(m.group(3)) / 4 - 0.01
    # the shared real-only runs are counted once: in the first study that trains them
    assert (rows["runs"] + rows["shared"]).tolist() == SD.design_table()["runs"].tolist()
    ddpm = rows.set_index("study").loc["DDPM"]  # 10 folds x 3 seeds x 4 settings, one DDPM per fold
    assert (ddpm["runs"], ddpm["generators"]) == (120, 10)


def test_study_plans_only_that_study(fixed_costs, tmp_path, capsys):
    out = _paper_plan(capsys, tmp_path, "--study", "ddpm").strip().splitlines()
    m = TOTAL.match(out[-1])
    assert (int(m.group(1)), int(m.group(2))) == (120, 10)
    assert any(line.split()[:2] == ["DDPM", "minimias"] for line in out)
    assert not any(line.split()[:1] in (["WGAN"], ["BUSI"], ["cWGAN"], ["DCGAN"]) for line in out)


def test_study_runs_only_that_study(smoke_cfg, monkeypatch, capsys):
    """--study WGAN on the smoke phantom: only the WGAN study's generator and settings reach the grid."""
    import pandas as pd

    from helpers.classify import comparison

    got = {}

    def fake(cfg, records, **choices):
        got.update(choices, dataset=cfg.dataset)
        return type("Done", (), {"results": pd.DataFrame(columns=["arch", "setting", "fold", "seed", "accuracy",
                                                                  "accuracy_lo", "accuracy_hi", "f1_macro", "seconds"])})

    monkeypatch.setattr(comparison, "run_studies", fake)
    rc = _cli("--profile", "smoke", "--study", "wgan", "--dataset", "phantom", "--data-dir", str(smoke_cfg.data_dir),
              "--runs-dir", str(smoke_cfg.runs_dir))
    assert rc == 0
    assert got["generators"] == ["wgan"] and [s.name for s in got["settings"]] == ["real", "real+syn:wgan"]
    assert got["dataset"] == "phantom" and got["archs"] == ["tiny"]  # the smoke profile's stand-in network


@pytest.mark.parametrize("argv, says", [
    (["--study", "nope"], "--study: unknown study 'nope'; choose one of WGAN, DCGAN, BUSI, DDPM, cWGAN."),
    (["--study", "WGAN", "--design", "cross"], "--study runs one study's own design"),
    (["--study", "WGAN", "--generators", "wgan"], "--generators, --settings and --scenario choose the runs"),
])
def test_a_bad_study_choice_is_one_line(argv, says, tmp_path, capsys):
    assert _cli("--plan", "--profile", "paper", "--runs-dir", str(tmp_path), *argv) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1


def test_a_study_whose_data_is_missing_is_one_line_before_anything_is_made(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_ROOT", str(tmp_path / "data"))  # no BUSI, no mini-MIAS there
    runs = tmp_path / "runs"
    for argv in (["--study", "WGAN"], []):
        assert _cli("--profile", "paper", "--runs-dir", str(runs), *argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "The WGAN study's data (busi)" in err and "--dataset phantom" in err
    assert not runs.exists()
