"""classify --plan: measured per-batch and per-step costs, multiplied out, before anything runs."""

from __future__ import annotations

from helpers.classify import plan as P


def test_plan_prints_runs_costs_and_a_projection(smoke_cfg, capsys):
    from helpers.cli import main

    rc = main(["classify", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
               str(smoke_cfg.runs_dir), "--generators", "wgan", "--plan"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "timing tiny" in out and "projected" in out.lower()
    assert not (smoke_cfg.runs_dir / "classify" / "results.csv").exists()  # nothing was trained


def test_generator_step_is_timed_on_a_small_batch_on_a_cpu_and_scaled(smoke_cfg, monkeypatch):
    monkeypatch.setattr(P, "CPU_TIMING_BATCH", 4)  # below the smoke presets' batch of 16
    t = P.time_generator_step("wgan-gp", smoke_cfg, 3)
    d = P.time_generator_step("ddpm", smoke_cfg, 3)
    assert t > 0 and d > 0


def test_gpu_plan_projects_one_gpu_and_a_cluster_from_the_same_costs(smoke_cfg, monkeypatch):
    """On GPUs the wall time divides by GPUs x runs per GPU at the packing efficiency; the
    cluster line uses the same costs on CLUSTER_GPUS GPUs. Costs are stubbed: no GPU here."""
    from helpers.classify.presets import PRESETS
    from helpers.classify.settings import Setting, plan
    from helpers.prepare import load_prepared

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    monkeypatch.setattr(P, "time_batch", lambda *a, **k: 0.01)
    monkeypatch.setattr(P, "time_generator_step", lambda *a, **k: 0.02)
    monkeypatch.setattr(P.torch.cuda, "device_count", lambda: 1)
    cfg = smoke_cfg.with_(device="cuda")
    runs = plan(records, ["tiny"], [Setting.parse("real", "none")], [0], [0, 1])
    out = P.make_plan(cfg, records, runs, PRESETS["smoke"], workers=4, progress=False)["summary"]
    assert out["gpus"] == 1 and out["workers"] == 4
    assert abs(out["wall_hours"] - out["total_hours"] / (4 * P.PACKING_EFFICIENCY)) < 1e-12
    c = out["cluster"]
    assert c["gpus"] == P.CLUSTER_GPUS and c["workers"] == P.CLUSTER_GPUS * 4
    assert abs(c["wall_hours"] * P.CLUSTER_GPUS - out["wall_hours"]) < 1e-12
