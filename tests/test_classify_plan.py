"""classify --plan: measured per-batch and per-step costs, multiplied out, before anything runs."""

from __future__ import annotations

from helpers.classify import plan as P


def test_plan_prints_cells_costs_and_a_projection(smoke_cfg, capsys):
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
