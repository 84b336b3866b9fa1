"""The training steps written in notebooks 03-06 are the package's: same text, same training."""

from __future__ import annotations

import shutil

import nbformat
import numpy as np
import pytest
import torch

from helpers.cli import main
from helpers.course import export as E


def test_notebook_steps_and_package_steps_are_the_same_code():
    assert E.check() == [], "a notebook's `# export:` cell differs from its module: run `python -m helpers export`"
    cells = E.exported_cells()
    assert set(cells) == {"helpers/gan/steps.py", "helpers/ddpm/steps.py", "helpers/flow/steps.py"}
    names = [n for module in cells.values() for n, _ in module]
    assert {"03_wgan.ipynb", "04_dcgan.ipynb", "05_cwgan.ipynb", "06_ddpm.ipynb", "06c_flow_matching.ipynb"} <= set(names)


def _changed_step(tmp_path):
    """A copy of notebooks/ whose DCGAN step (notebook 04) no longer matches helpers/gan/steps.py."""
    nbs = tmp_path / "notebooks"
    shutil.copytree(E.ROOT / "notebooks", nbs)
    nb = nbformat.read(nbs / "04_dcgan.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.source.startswith("# export:"))
    cell.source = cell.source.replace("one forward pass serves both updates", "changed")
    nbformat.write(nb, nbs / "04_dcgan.ipynb")
    return nbs


def test_check_fails_when_a_notebook_step_changes(tmp_path):
    (tmp_path / "helpers" / "gan").mkdir(parents=True)
    (tmp_path / "helpers" / "ddpm").mkdir(parents=True)
    (tmp_path / "helpers" / "flow").mkdir(parents=True)
    for m in ("helpers/gan/steps.py", "helpers/ddpm/steps.py", "helpers/flow/steps.py"):
        shutil.copy(E.ROOT / m, tmp_path / m)
    assert E.check(E.ROOT / "notebooks", tmp_path) == []
    nbs = _changed_step(tmp_path)
    assert E.check(nbs, tmp_path) == ["helpers/gan/steps.py"]
    assert E.check(nbs, tmp_path, write=True) == ["helpers/gan/steps.py"] and E.check(nbs, tmp_path) == []
    assert "changed" in (tmp_path / "helpers/gan/steps.py").read_text()


def test_export_command_check_says_which_module_differs(tmp_path, capsys):
    """`python -m helpers export --check`: exit 0 and "in sync" on the course's notebooks; exit 1
    naming the module when a notebook's step changed, and nothing is written."""
    assert main(["export", "--check"]) == 0
    assert capsys.readouterr().out.strip() == "in sync"
    before = (E.ROOT / "helpers/gan/steps.py").read_text()
    assert main(["export", "--check", "--notebooks-dir", str(_changed_step(tmp_path))]) == 1
    assert capsys.readouterr().out.strip() == "differ from the notebooks: helpers/gan/steps.py"
    assert (E.ROOT / "helpers/gan/steps.py").read_text() == before


def _images(n=12, size=32, seed=0):
    return (np.random.default_rng(seed).random((n, size, size)) * 255).astype(np.uint8)


def _weights(history):
    return torch.load(history.checkpoint, weights_only=True)["modules"]


def test_a_step_passed_in_trains_and_resumes_like_the_default(smoke_cfg, tmp_path):
    from helpers.gan.pipeline import train_run
    from helpers.gan.steps import wgan_step

    data = _images()
    a = train_run("wgan-gp", data, smoke_cfg, tmp_path / "default", steps=5, progress=False, seed=0)
    train_run("wgan-gp", data, smoke_cfg, tmp_path / "passed", steps=3, progress=False, seed=0, step=wgan_step)
    b = train_run("wgan-gp", data, smoke_cfg, tmp_path / "passed", steps=5, progress=False, seed=0, step=wgan_step)
    assert b.resumed_from == 3
    wa, wb = _weights(a), _weights(b)
    assert all(torch.equal(wa["generator"][k], wb["generator"][k]) for k in wa["generator"])


def test_another_step_trains_differently_and_never_resumes_a_default_run(smoke_cfg, tmp_path):
    from helpers.gan.pipeline import train_run
    from helpers.gan.steps import critic_step, generator_step, grad_norm

    def two_generator_steps(run):  # a changed step: one critic update, two generator updates
        out = critic_step(run)
        out["grad_norm_d"] = grad_norm(run.D)
        generator_step(run)
        out.update(generator_step(run))
        return {k: float(v) for k, v in out.items()}

    data = _images()
    a = train_run("wgan-gp", data, smoke_cfg, tmp_path / "r", steps=3, progress=False, seed=0)
    with pytest.raises(ValueError, match="other settings.*step"):
        train_run("wgan-gp", data, smoke_cfg, tmp_path / "r", steps=4, progress=False, seed=0,
                  step=two_generator_steps)
    b = train_run("wgan-gp", data, smoke_cfg, tmp_path / "other", steps=3, progress=False, seed=0,
                  step=two_generator_steps)
    assert not torch.equal(_weights(a)["generator"]["fc.0.weight"], _weights(b)["generator"]["fc.0.weight"])


def test_ddpm_step_passed_in(tmp_path):
    from helpers.ddpm.pipeline import train_ddpm
    from helpers.ddpm.presets import preset
    from helpers.ddpm.steps import ddpm_train_step

    x, y = _images(9, 16), np.arange(9) % 3
    p = preset("smoke", base=4, mults=(1, 2), steps=3, checkpoint_every=2, sample_every=100)
    a = train_ddpm(x, y, tmp_path / "a", p, 3, progress=False)
    b = train_ddpm(x, y, tmp_path / "b", p, 3, progress=False, step=ddpm_train_step)
    assert all(torch.equal(u, v) for u, v in zip(a.model.state_dict().values(), b.model.state_dict().values()))
    calls = []

    def counting(run, i):
        calls.append(i)
        return ddpm_train_step(run, i)

    train_ddpm(x, y, tmp_path / "c", p, 3, progress=False, step=counting)
    assert calls == [1, 2, 3]
