"""Shared fixtures. Tests run offline on CPU; the real BUSI copy is opt-in (COURSE_BUSI_DIR)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("COURSE_DEVICE", "cpu")
# Tests run two workers on two cores: one thread each (and in each notebook kernel they start)
# avoids oversubscription, which makes small networks many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TQDM_DISABLE", "1")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    """One math thread per test even when torch was imported before OMP_NUM_THREADS was set."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory) -> Path:
    """The smoke profile's tiny phantom set in the BUSI layout (masks beside images)."""
    from helpers.config import PROFILE_DATA
    from helpers.data.phantom_folder import ensure_phantom

    d = tmp_path_factory.mktemp("phantom")
    pd_ = PROFILE_DATA["smoke"]
    ensure_phantom(d, pd_.phantom_counts, seed=0, size=pd_.phantom_size, progress=False)
    return d


@pytest.fixture
def smoke_cfg(tmp_path, phantom_dir):
    from helpers.config import resolve

    return resolve("smoke", "phantom", phantom_dir, tmp_path / "runs", seed=0)


@pytest.fixture(scope="session")
def busi_dir() -> Path:
    d = os.environ.get("COURSE_BUSI_DIR")
    if not d or not Path(d).is_dir():
        pytest.skip("set COURSE_BUSI_DIR to a BUSI folder to run this test")
    return Path(d)


@pytest.fixture(scope="session")
def minimias_dir() -> Path:
    """The real mini-MIAS folder (Info.txt beside images/mdbNNN.png), opt-in like busi_dir."""
    d = os.environ.get("COURSE_MINIMIAS_DIR")
    if not d or not Path(d).is_dir():
        pytest.skip("set COURSE_MINIMIAS_DIR to a mini-MIAS folder to run this test")
    return Path(d)


@pytest.fixture
def run_benchmark(monkeypatch, capsys):
    """run(name, *args) -> (exit code, stdout) of benchmarks/<name>.py's main(args), through the
    process path of helpers.parallel even for the few images a test gives it."""
    from helpers.parallel import processes

    monkeypatch.setattr(processes, "PARALLEL_FROM", 1)

    def run(name: str, *args: str) -> tuple[int, str]:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        bench = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(bench)
        code = bench.main(list(args))
        return code, capsys.readouterr().out

    return run
