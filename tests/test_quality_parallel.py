"""Quality jobs side by side in threads (helpers.parallel) give the numbers of one after
another: the scoring table, the memorisation search, the second feature space and the
scoring sets' images."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from helpers import parallel
from helpers.data.preprocess import load_images
from helpers.parallel import jobs as parallel_jobs
from helpers.prepare import load_prepared
from helpers.synth import sample_calls, write_synthetic_set


@pytest.fixture
def scored(smoke_cfg):
    """Three small sets (copies, held-out images, noise) and the real records."""
    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    size = smoke_cfg.size
    root = smoke_cfg.runs_dir / "synthetic"
    manifests = {}
    for name, part in (("copies", records[records["split"] == "train"]), ("heldout", records[records["split"] != "train"])):
        x, names = load_images(part, size, None, progress=False), part["class_name"].to_numpy()

        def sample(cls, n, seed, x=x, names=names):
            return x[np.random.default_rng(seed).choice(np.flatnonzero(names == cls), n)]
        manifests[name] = write_synthetic_set(root / name, name, sample, {"benign": 7, "normal": 5, "malignant": 6},
                                              dataset="phantom", progress=False)
    noise = lambda cls, n, seed: np.random.default_rng(seed).integers(0, 256, (n, size, size)).astype(np.uint8)  # noqa: E731
    manifests["noise"] = write_synthetic_set(root / "noise", "noise", noise, {"normal": 9, "malignant": 4},
                                             dataset="phantom", progress=False)
    return smoke_cfg, records, manifests


def _score(cfg, records, manifests, extractor, n_workers, monkeypatch):
    from helpers.quality import usefulness as U
    from helpers.quality.presets import preset
    from helpers.quality.report import score_sets

    monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", n_workers)
    shutil.rmtree(cfg.runs_dir / "quality" / "tstr", ignore_errors=True)  # every classifier trains again
    report = score_sets(cfg, records, manifests, extractor=extractor, progress=False, verbose=False,
                        out_dir=cfg.runs_dir / f"quality-{n_workers}")
    classes = {0: "benign", 1: "normal", 2: "malignant"}
    return report, U.feature_scores(extractor, report, classes, preset(cfg), seed=cfg.seed)


def test_side_by_side_equals_one_after_another(scored, monkeypatch):
    from helpers.quality.features import get_extractor

    cfg, records, manifests = scored
    extractor = get_extractor(cfg, records, progress=False)  # trained once, shared by both runs
    one, one_second = _score(cfg, records, manifests, extractor, 1, monkeypatch)
    # three threads for 4 trainings and 6 numpy jobs: more threads than a 2-core machine has cores
    three, three_second = _score(cfg, records, manifests, extractor, 3, monkeypatch)
    pd.testing.assert_frame_equal(one.table, three.table)
    pd.testing.assert_frame_equal(one_second, three_second)
    np.testing.assert_array_equal(one.heldout_scores, three.heldout_scores)
    for gen in manifests:
        pd.testing.assert_frame_equal(one.sets[gen]["memorisation"].table, three.sets[gen]["memorisation"].table)
    t = three.table[three.table["class_name"] == "all"].set_index("generator")
    assert t.loc["copies", "memorised"] == 1.0 and t["tstr"].notna().all()  # the jobs did their work


def test_side_by_side_returns_in_order_and_raises_a_jobs_error():
    jobs = {k: parallel.task(lambda k=k: k * 2) for k in "abcd"}
    assert list(parallel.run(jobs, parallel.Backend("threads", workers=3)).items()) == [(k, k * 2) for k in "abcd"]

    def fail():
        raise ValueError("job failed")
    with pytest.raises(ValueError, match="job failed"):
        parallel.run({"ok": parallel.task(lambda: 1), "bad": parallel.task(fail)}, parallel.Backend("threads", workers=2))
    assert parallel.side_by_side(10, "cuda") == parallel.INLINE and parallel.side_by_side(1) == parallel.INLINE


def test_train_on_synthetic_classifiers_are_built_in_the_calling_thread(scored, monkeypatch):
    """The TSTR classifiers are seeded and built before the threads start (no lock around
    torch's global generator): the report prepares them as jobs of helpers.parallel."""
    import threading

    from helpers.quality import features, report

    cfg, records, manifests = scored
    built = []
    real = features.SmallCNN.__init__

    def init(self, *a, **k):
        built.append(threading.current_thread() is threading.main_thread())
        real(self, *a, **k)

    monkeypatch.setattr(features.SmallCNN, "__init__", init)
    monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", 3)
    extractor = features.RandomExtractor(8, 32, seed=0)
    built.clear()
    report.score_sets(cfg, records, manifests, extractor=extractor, progress=False, verbose=False,
                      out_dir=cfg.runs_dir / "quality-built")
    assert len(built) == 4 and all(built)  # real + three sets, every one built in the main thread


def test_write_synthetic_set_makes_the_calls_sample_calls_lists(tmp_path):
    seen = []

    def sample(cls, n, seed):
        seen.append((cls, n, seed))
        return np.zeros((n, 8, 8), np.uint8)
    counts = {"benign": 0, "normal": 70, "malignant": 3}
    write_synthetic_set(tmp_path / "s", "s", sample, counts, dataset="phantom", seed=4, batch=32, progress=False)
    assert seen == sample_calls(counts, "phantom", 4, 32) and len(seen) == 4
    assert (tmp_path / "s" / "benign").is_dir()  # a class with no images still has its folder


def test_scoring_set_drawn_at_once_equals_one_after_another(smoke_cfg, monkeypatch):
    from helpers.gan import pipeline
    from helpers.quality.report import load_set
    from helpers.quality.sampling import scoring_set

    records = load_prepared(smoke_cfg, progress=False, verbose=False)
    exported = pipeline.run("cwgan", smoke_cfg, records[records["split"] == "train"], steps=2, progress=False)
    sets = {}
    for n_workers in (1, 3):
        monkeypatch.setattr(parallel_jobs, "SIDE_BY_SIDE", n_workers)
        out = smoke_cfg.runs_dir / f"scoring-{n_workers}"
        m = scoring_set(smoke_cfg, "cwgan", exported, 70, progress=False, out=out)  # two calls per class
        sets[n_workers] = load_set(m, smoke_cfg.size)[1]
    np.testing.assert_array_equal(sets[1], sets[3])
