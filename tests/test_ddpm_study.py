"""The DDPM study's scenarios under both test protocols (helpers.pitfalls.synthetic_in_test)."""

import numpy as np
import pandas as pd
import pytest

from helpers.pitfalls import synthetic_in_test


def _synthetic(per_class=20, classes=("abnormal", "normal")):
    rows = [dict(path=f"/s/{c}_{i}.png", class_name=c, label=k, index=i)
            for k, c in enumerate(classes) for i in range(per_class)]
    return pd.DataFrame(rows)


def test_scenario_sets_grow_nested_and_hold_out_a_fifth_per_class():
    syn = _synthetic()
    small = pd.concat(synthetic_in_test.scenario_sets(syn, 5, 0.2, seed=0))
    big_train, big_test = synthetic_in_test.scenario_sets(syn, 10, 0.2, seed=0)
    assert set(small["path"]) <= set(pd.concat([big_train, big_test])["path"])
    assert big_test.groupby("class_name").size().tolist() == [2, 2]
    assert not set(big_train["path"]) & set(big_test["path"])


def _preds(view, n, correct, source, seed=0):
    return pd.DataFrame(dict(view=view, scenario=n, seed=seed, correct=correct, source=source,
                             group=[f"g{i}" for i in range(len(correct))], image=[f"i{i}" for i in range(len(correct))],
                             label=[1] * len(correct), pred=[1 if c else 0 for c in correct]))


def test_table_compares_the_same_models_under_both_protocols():
    real = [1, 0, 1, 0]  # 0.5 on the real test images
    preds = pd.concat([
        _preds(synthetic_in_test.REAL_TEST, 0, real, ["busi"] * 4),
        _preds(synthetic_in_test.REAL_TEST, 50, real, ["busi"] * 4),
        _preds(synthetic_in_test.STUDY_TEST, 50, real + [1] * 4, ["busi"] * 4 + ["synthetic"] * 4),
    ], ignore_index=True)
    t = synthetic_in_test.table(preds, ["benign", "normal"], n_boot=200)
    r0, r50 = t.iloc[0], t.iloc[1]
    assert r0["difference"] == 0 and r0["study protocol: accuracy"] == r0["real test: accuracy"] == 0.5
    assert r50["study protocol: accuracy"] == pytest.approx(0.75)
    assert r50["difference"] == pytest.approx(0.25) and r50["synthetic in test"] == 4
    assert r50["published accuracy"] == 0.90 and np.isfinite(r50["diff_lo"])
    text = " ".join(synthetic_in_test.conclusions(t))
    assert "+50 per class" in text


def test_the_ddpm_study_command_scores_each_model_on_both_test_sets(smoke_cfg, capsys):
    from helpers.cli import main

    rc = main(["ddpm-study", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
               str(smoke_cfg.runs_dir), "--scenarios", "0,5", "--threads", "1"])
    assert rc == 0
    out = smoke_cfg.runs_dir / "ddpm_study"
    t = pd.read_csv(out / "table.csv")
    assert t["synthetic per class"].tolist() == [0, 5]
    assert t["synthetic in test"].tolist() == [0, 3]  # a fifth of 5 per class, three classes
    preds = pd.read_csv(out / "preds.csv")
    study = preds[preds["view"] == synthetic_in_test.STUDY_TEST]
    assert set(study["guard"]) == {"leaky:synthetic-in-test"}
    # the honest view holds the same real images, scored by the same model
    real = preds[(preds["view"] == synthetic_in_test.REAL_TEST) & (preds["scenario"] == 5)]
    assert set(real["path"]) == set(study.loc[study["source"] != "synthetic", "path"])
    assert "study protocol - real test" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:  # argparse: one line naming the option, status 2
        main(["ddpm-study", "--profile", "smoke", "--data-dir", str(smoke_cfg.data_dir), "--runs-dir",
              str(smoke_cfg.runs_dir), "--scenarios", "0,-5"])
    assert e.value.code == 2
    assert "--scenarios: counts must be 0 or more" in capsys.readouterr().err
