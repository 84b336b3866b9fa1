"""The GPU check's packaging, on the CPU and without network: its options, and that a Python
missing a piece (PyTorch, a wheel) is told which one. The whole check on a bare Python 3.12 is
benchmarks/gpu_check_rehearsal.sh (minutes; not part of the tests)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECK = ROOT / "benchmarks" / "gpu_check.sh"
# what the GPU machine's image is expected to have (benchmarks/gpu_wheels.py leaves them out)
ON_THE_MACHINE = ("torch", "torchvision", "numpy", "pandas", "pillow", "scipy", "scikit-learn", "matplotlib")


def check(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CHECK), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


@pytest.fixture
def bare_python(tmp_path) -> Path:
    """A Python with nothing installed but pip (linked in from this one)."""
    venv.create(tmp_path / "bare", with_pip=False)
    py = tmp_path / "bare" / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (tmp_path / "pip").mkdir()
    pip = Path(__import__("pip").__file__).parent
    for found in [pip, *pip.parent.glob("pip-*.dist-info")]:
        (tmp_path / "pip" / found.name).symlink_to(found)
    (site / "pip.pth").write_text(str(tmp_path / "pip") + "\n")
    return py


def fake_installed(py: Path, names) -> None:
    """Package metadata only: pip and importlib.metadata count these as installed."""
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())
    pins = dict(ln.split("==") for ln in (ROOT / "constraints.txt").read_text().split() if "==" in ln)
    pins = {k.lower(): v for k, v in pins.items()}
    for name in names:
        d = site / f"{name.replace('-', '_')}-{pins[name]}.dist-info"
        d.mkdir()
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {pins[name]}\n")


def test_list_and_only_select_parts():
    listed = check("--list")
    assert listed.returncode == 0
    names = [ln.split()[0] for ln in listed.stdout.splitlines()]
    assert {"gan", "ddpm", "clf-resnet50", "packing", "plan"} <= set(names)
    assert [n for n in names if n.startswith("nb-")] == ["nb-03", "nb-04", "nb-05", "nb-06", "nb-08"]
    gpu = {ln.split()[0] for ln in listed.stdout.splitlines() if ln.split()[1] == "gpu"}
    assert not any(n.startswith("nb-") for n in gpu), "the notebooks also run with --cpu"
    assert {"choice-ddpm-layout", "choice-clf-compile", "choice-penalty"} <= gpu
    only = check("--only", "nb-0,gan", "--list")
    assert [ln.split()[0] for ln in only.stdout.splitlines()] == ["nb-03", "nb-04", "nb-05", "nb-06", "nb-08", "gan"]


@pytest.mark.parametrize("args, message", [(["--bogus"], "unknown option '--bogus'"),
                                           (["--only", "nothing"], "--only nothing names no part"),
                                           (["--only"], "--only wants part names")])
def test_bad_options_are_named(args, message):
    done = check(*args)
    assert done.returncode == 2 and message in done.stderr


def test_a_python_that_is_not_there_is_named(tmp_path):
    done = check("--cpu", PY=str(tmp_path / "nopython"), LOG_DIR=str(tmp_path / "log"))
    assert done.returncode == 2
    assert f"PY={tmp_path / 'nopython'} does not run Python" in done.stderr


def test_a_python_without_torch_is_not_called_a_missing_gpu(tmp_path, bare_python):
    done = check(PY=str(bare_python), LOG_DIR=str(tmp_path / "log"))
    assert done.returncode == 2
    assert "cannot import torch" in done.stderr and "No module named 'torch'" in done.stderr
    assert "no CUDA device" not in done.stdout + done.stderr


def test_no_cuda_is_said_only_when_torch_sees_none(tmp_path, bare_python):
    """A PyTorch that imports and sees no GPU: named as such, with --cpu offered."""
    site = bare_python.parent.parent / "fake-torch"
    site.mkdir()
    (site / "torch.py").write_text("__version__ = '2.14.1'\nclass version:\n    cuda = '13.0'\n"
                                   "class cuda:\n    is_available = staticmethod(lambda: False)\n")
    done = check(PY=str(bare_python), LOG_DIR=str(tmp_path / "log"), PYTHONPATH=str(site))
    assert done.returncode == 2
    assert "no CUDA device: torch 2.14.1 (CUDA build: 13.0) sees no GPU here; run with --cpu" in done.stderr


def test_a_missing_wheel_is_named(tmp_path, bare_python):
    """The machine has PyTorch and the scientific stack; the wheel folder is empty: the install
    step names a course requirement it cannot find, and says where the wheels come from."""
    fake_installed(bare_python, ON_THE_MACHINE)
    (tmp_path / "wheels").mkdir()
    done = subprocess.run([bare_python, ROOT / "benchmarks" / "gpu_wheels_install.py", "--wheels", tmp_path / "wheels",
                           "--target", tmp_path / "site"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout
    m = re.search(r"error: no wheel for (\S+) in (\S+) \((\S+) has no (\S+); needed by the course\): "
                  r"run `python benchmarks/gpu_wheels.py` on a machine with pip access", done.stderr)
    assert m, done.stderr
    assert re.match(r"fastai|papermill|ipykernel|nbformat|seaborn|tqdm", m.group(1)) and m.group(4) in m.group(1)
    assert m.group(2) == str(tmp_path / "wheels") and m.group(3) == str(bare_python)
    assert not (tmp_path / "site").exists(), "nothing installed when a piece is missing"


COURSE = ON_THE_MACHINE + ("fastai", "seaborn", "tqdm", "ipykernel", "papermill", "nbformat")


def install(py: Path, wheels: Path, target: Path) -> subprocess.CompletedProcess:
    wheels.mkdir(exist_ok=True)
    return subprocess.run([py, ROOT / "benchmarks" / "gpu_wheels_install.py", "--wheels", wheels, "--target", target],
                          capture_output=True, text=True, timeout=60)


def test_a_missing_piece_of_the_machine_image_is_named(tmp_path, bare_python):
    """scipy is left out of the wheels (the image has it): a Python without it is told so."""
    fake_installed(bare_python, [n for n in COURSE if n != "scipy"])
    done = install(bare_python, tmp_path / "wheels", tmp_path / "site")
    assert done.returncode == 2
    assert f"error: {bare_python} has no scipy (needed by the course), and scipy is left out" in done.stderr
    assert "`python benchmarks/gpu_wheels.py --include scipy`" in done.stderr


def test_a_python_with_everything_gets_only_the_kernel(tmp_path, bare_python):
    fake_installed(bare_python, COURSE)
    done = install(bare_python, tmp_path / "wheels", tmp_path / "site")
    assert done.returncode == 0, done.stderr
    assert f"0 packages installed into {tmp_path / 'site'} ({bare_python} has all the course needs)" in done.stdout
    kernel = json.loads((tmp_path / "site/share/jupyter/kernels/python3/kernel.json").read_text())
    assert kernel["argv"][:3] == [str(bare_python), "-m", "ipykernel_launcher"]
    assert kernel["env"]["PYTHONPATH"] == f"{tmp_path / 'site'}:{ROOT}"


def test_wheels_for_another_python_are_named(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "manifest.json").write_text(json.dumps({"python": "3.9", "wheels": {}}))
    done = subprocess.run([sys.executable, ROOT / "benchmarks" / "gpu_wheels_install.py", "--wheels",
                           tmp_path / "wheels", "--target", tmp_path / "site"], capture_output=True, text=True)
    assert done.returncode == 2
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    assert f"are for Python 3.9, {sys.executable} is {python}" in done.stderr
    assert f"--python-version {python}" in done.stderr


def test_platform_tags_reach_back_to_older_glibc():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from gpu_wheels import _platforms
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    tags = _platforms("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64"
    assert {"manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64"} <= set(tags)
    assert not any("aarch64" in t or "_2_29_" in t for t in tags)
