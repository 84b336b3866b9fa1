"""The top-level `data_download.py` command: help, the phantom source, one-line errors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.data import load_records

SCRIPT = Path(__file__).resolve().parents[1] / "data_download.py"
SMALL = "benign=3,normal=2,malignant=2"


@pytest.fixture(scope="module")
def cli():
    spec = importlib.util.spec_from_file_location("data_download", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _help(cli, capsys, *argv) -> str:
    with pytest.raises(SystemExit) as e:
        cli.main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


def test_help_documents_every_source_and_option(cli, capsys):
    top = _help(cli, capsys)
    for word in ("phantom", "busi", "breastmnist", "examples:", "--from", "resume"):
        assert word in top
    options = {
        "phantom": ["--dest", "--seed", "--size", "--counts", "--no-masks", "--quiet"],
        "busi": ["--dest", "--url", "--from", "--in-place", "--remove-archive", "--no-check",
                 "https://scholar.cu.edu.eg/Dataset_BUSI.zip", "437"],
        "breastmnist": ["--dest", "--size", "--url", "--md5", "--from", "{28,64,128,224}", "splits.csv"],
    }
    for source, words in options.items():
        text = _help(cli, capsys, source)
        missing = [w for w in words if w not in text]
        assert not missing, f"{source} --help lacks {missing}"


def test_phantom_writes_busi_layout_with_marker(cli, tmp_path, capsys):
    from helpers.data.phantom_folder import version

    dest = tmp_path / "ph"
    assert cli.main(["phantom", "--dest", str(dest), "--size", "32", "--counts", SMALL, "--quiet"]) == 0
    assert "Phantom set ready: 7 images (benign 3, normal 2, malignant 2)" in capsys.readouterr().out
    df = load_records("phantom", dest, progress=False)
    assert df["class_name"].value_counts().to_dict() == {"benign": 3, "normal": 2, "malignant": 2}
    assert len(list(dest.glob("*/*_mask.png"))) == 7
    marker = json.loads((dest / ".phantom.json").read_text())
    assert marker == {"counts": {"benign": 3, "normal": 2, "malignant": 2}, "size": 32, "seed": 0,
                      "version": version()}


def test_phantom_folder_is_accepted_by_ensure_dataset(cli, tmp_path, monkeypatch):
    """A folder written by the command is what the notebooks' ensure_dataset expects: no regeneration."""
    from helpers.config import PROFILE_DATA, resolve
    from helpers.data import phantom, registry

    pd_ = PROFILE_DATA["smoke"]
    counts = ",".join(f"{k}={v}" for k, v in pd_.phantom_counts.items())
    dest = tmp_path / "ph"
    cli.main(["phantom", "--dest", str(dest), "--size", str(pd_.phantom_size), "--counts", counts, "--quiet"])
    monkeypatch.setattr(phantom, "write_phantom_dataset", lambda *a, **k: pytest.fail("regenerated"))
    registry.ensure_dataset(resolve("smoke", "phantom", dest, tmp_path / "runs"), progress=False)


def test_phantom_rerun_and_options(cli, tmp_path):
    dest = tmp_path / "ph"
    cli.main(["phantom", "--dest", str(dest), "--size", "32", "--counts", SMALL, "--quiet", "--no-masks"])
    assert not list(dest.glob("*/*_mask*.png"))
    first = (dest / "benign" / "benign (1).png").read_bytes()
    cli.main(["phantom", "--dest", str(dest), "--size", "32", "--counts", SMALL, "--quiet", "--no-masks"])
    assert (dest / "benign" / "benign (1).png").read_bytes() == first
    cli.main(["phantom", "--dest", str(dest), "--size", "32", "--counts", SMALL, "--quiet", "--seed", "1"])
    assert (dest / "benign" / "benign (1).png").read_bytes() != first  # other seed: made again
    assert cli.main(["phantom", "--dest", str(dest), "--size", "32", "--counts", "benign=1,normal=1,malignant=2",
                     "--quiet", "--seed", "1"]) == 0
    names = sorted(p.relative_to(dest).as_posix() for p in dest.glob("*/*.png"))
    assert names == ["benign/benign (1).png", "benign/benign (1)_mask.png", "malignant/malignant (1).png",
                     "malignant/malignant (1)_mask.png", "malignant/malignant (2).png",
                     "malignant/malignant (2)_mask.png", "normal/normal (1).png", "normal/normal (1)_mask.png"]


@pytest.mark.parametrize("argv, message", [
    (["phantom", "--counts", "benign=3,normal=2"], "give at least one image for every class"),
    (["phantom", "--counts", "benign=x"], "expected CLASS=N"),
    (["busi", "--from", "/nonexistent/busi.zip"], "no such file or folder"),
    (["busi", "--in-place"], "--in-place needs --from"),
])
def test_bad_input_is_one_line_and_nonzero(cli, tmp_path, capsys, argv, message):
    assert cli.main([*argv, "--dest", str(tmp_path / "d")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_foreign_folder_is_not_overwritten(cli, tmp_path, capsys):
    (tmp_path / "benign").mkdir()
    assert cli.main(["phantom", "--dest", str(tmp_path), "--counts", SMALL, "--size", "32"]) == 2
    assert "is not a phantom folder" in capsys.readouterr().err


def test_script_runs_as_a_program(tmp_path):
    """The real entry point: `python data_download.py ...` from any folder, no traceback on errors."""
    ok = subprocess.run([sys.executable, str(SCRIPT), "phantom", "--dest", str(tmp_path / "p"), "--size", "32",
                         "--counts", SMALL, "--quiet"], capture_output=True, text=True, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert len([p for p in (tmp_path / "p").glob("*/*.png") if "_mask" not in p.name]) == 7
    bad = subprocess.run([sys.executable, str(SCRIPT), "breastmnist", "--from", str(tmp_path / "none.npz"),
                          "--dest", str(tmp_path / "b")], capture_output=True, text=True, cwd=tmp_path)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "none.npz" in bad.stderr


def test_sub_commands_are_the_registrys_downloads(cli, capsys):
    """Each sub-command is a dataset's `download` in the registry; `folder` has none (it is read in place)."""
    from helpers.data.registry import DATASETS

    wanted = list(dict.fromkeys(ds.download.command for ds in DATASETS.values() if ds.download))
    assert [d.command for d in cli.DOWNLOADS] == wanted == ["phantom", "busi", "breastmnist", "minimias", "breakhis"]
    top = _help(cli, capsys)
    assert "{phantom,busi,breastmnist,minimias,breakhis}" in top and "\n  folder " not in top
    for d in cli.DOWNLOADS:
        assert d.summary.splitlines()[0] in top and all(e in top for e in d.examples)
    args = cli.build_parser().parse_args(["breastmnist", "--size", "64"])
    assert args.dest is None and args.default_dest == cli.default_data_dir("breastmnist")


def test_breakhis_says_how_to_use_both_tasks(cli, tmp_path, capsys, monkeypatch):
    from helpers.data import breakhis

    monkeypatch.setattr(breakhis, "fetch_breakhis", lambda *a, **k: {"report": "report", "data_dir": tmp_path})
    assert cli.main(["breakhis", "--from", str(tmp_path), "--dest", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"--dataset breakhis --data-dir {tmp_path}" in out and out.rstrip().endswith(
        "For the eight subtypes use --dataset breakhis8 with the same folder.")
