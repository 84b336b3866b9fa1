"""Install the course's wheels (benchmarks/gpu_wheels.py wrote them) on a GPU machine without
network, with its own Python: the standard library and pip only.

    python3 benchmarks/gpu_wheels_install.py --target DIR [--wheels wheels]

Only what that Python lacks, or has at a version the course cannot use, goes into DIR (put it on
PYTHONPATH); with it a Jupyter kernel that runs the same Python. A piece that is neither on the
machine nor in the wheel folder is named, with what to do.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from gpu_wheels import EXCLUDED, HINT, ROOT, WHEELS, Missing, canon, course_requirements, excluded

KERNEL = "python3"  # the kernel name helpers.course.runner asks papermill for


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0)


def _pip(wheels: Path) -> list[str]:
    """This Python's pip if it can plan an install (--dry-run --report: pip 22.2), else pip run
    from its wheel in the folder (python pip.whl/pip works)."""
    have = _installed("pip") if importlib.util.find_spec("pip") else None
    if have and tuple(int(x) for x in re.findall(r"\d+", have)[:2]) >= (22, 2):
        return [sys.executable, "-m", "pip"]
    found = sorted(wheels.glob("pip-*.whl"))
    if found:
        return [sys.executable, str(found[-1] / "pip")]
    there = f"pip {have}, older than 22.2," if have else "no pip"
    raise Missing(f"{sys.executable} has {there} and {wheels} holds no pip wheel: {HINT}")


def _installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def explain(pip_output: str, wheels: Path, manifest: dict, needed_by: list[str]) -> str:
    """pip's failure to resolve the course's requirements, as one line that names the piece
    (`needed_by`: who asked for each line of the requirements pip was given)."""
    m = re.search(r"satisfies the requirement (\S+)(?: \(from (?!versions)(-r \S+ \(line (\d+)\)|[^)]+)\))?",
                  pip_output)
    if m:
        spec, by, line = m.groups()
        by = needed_by[int(line) - 1] if line and int(line) <= len(needed_by) else by or "the course"
        name = _name(spec)
        have = _installed(name)
        there = f"{sys.executable} has {name} {have}, not {spec[len(name):]}" if have else f"{sys.executable} has no {name}"
        if excluded(name, ("torch*", "triton", "nvidia-*", "cuda-*")):
            return (f"{there} (needed by {by}): the check uses the machine's own PyTorch, built for its GPU; "
                    f"install it there, or set PY to the Python that has it")
        if excluded(name, manifest.get("excluded", EXCLUDED)):
            return (f"{there} (needed by {by}), and {name} is left out of the wheels as a GPU machine's image has "
                    f"it: install it there, or write the wheels with `python benchmarks/gpu_wheels.py --include "
                    f"{canon(name)}`")
        listed = manifest.get("wheels", {}).get(canon(name))
        if listed:
            return (f"no wheel for {name}=={listed['version']} in {wheels}, though its manifest.json lists "
                    f"{listed['file']} ({there}; needed by {by}): copy the whole folder again")
        return f"no wheel for {spec} in {wheels} ({there}; needed by {by}): {HINT}"
    conflict = pip_output.partition("The conflict is caused by:")[2].strip().splitlines()
    if conflict:
        return (f"the wheels in {wheels} do not fit {sys.executable}'s packages: "
                + "; ".join(ln.strip() for ln in conflict[:4] if ln.strip()))
    errors = [ln for ln in pip_output.splitlines() if ln.startswith("ERROR")] or pip_output.strip().splitlines()
    return f"pip could not install the course's requirements from {wheels}: {errors[-1] if errors else '?'}"


def _plan(pip: list[str], reqs: list[tuple[str, str]], env: dict, wheels: Path, manifest: dict,
          *flags: str) -> list[str]:
    """What pip would install (name==version) for `reqs` [(requirement, needed by)] on this Python."""
    if not reqs:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "req.txt").write_text("".join(f"{r}\n" for r, _ in reqs))
        report = Path(tmp) / "report.json"
        dry = subprocess.run([*pip, "install", "--dry-run", "--no-index", "--find-links", str(wheels), *flags,
                              "--report", str(report), "-q", "-r", str(Path(tmp) / "req.txt")],
                             capture_output=True, text=True, env=env)
        if dry.returncode:
            raise Missing(explain(dry.stderr + dry.stdout, wheels, manifest, [by for _, by in reqs]))
        return [f"{i['metadata']['name']}=={i['metadata']['version']}" for i in json.loads(report.read_text())["install"]]


def _write_kernel(target: Path) -> None:
    """A `python3` kernel that runs this Python with the target on its path, found first through
    JUPYTER_PATH=TARGET/share/jupyter (a kernel of the same name elsewhere may run another Python)."""
    d = target / "share" / "jupyter" / "kernels" / KERNEL
    d.mkdir(parents=True, exist_ok=True)
    spec = dict(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                display_name="Python 3 (GPU check)", language="python",
                env=dict(PYTHONPATH=os.pathsep.join([str(target), str(ROOT)])))
    (d / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")


def install(wheels: Path, target: Path) -> list[str]:
    """Install into `target` what this Python lacks of the course's requirements; what was installed."""
    manifest = json.loads((wheels / "manifest.json").read_text()) if (wheels / "manifest.json").is_file() else {}
    python = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if manifest and manifest["python"] != python:
        raise Missing(f"the wheels in {wheels} are for Python {manifest['python']}, {sys.executable} is {python}: "
                      f"write them with `python benchmarks/gpu_wheels.py --python-version {python}`")
    pip = _pip(wheels)
    # a requirement that needs a dropped one (fastai: spaCy) goes in alone, its other needs beside it
    no_deps = manifest.get("no_deps", {})
    reqs = course_requirements(manifest)
    whole = [(r, "the course") for r in reqs if canon(_name(r)) not in no_deps]
    whole += [(d, n) for n, deps in no_deps.items() for d in deps]
    alone = [(r, "the course") for r in reqs if canon(_name(r)) in no_deps]
    # pip alone, without this machine's pip settings; what the target holds counts as installed
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(target), os.environ.get("PYTHONPATH")])))
    todo = list(dict.fromkeys(_plan(pip, whole, env, wheels, manifest)
                              + _plan(pip, alone, env, wheels, manifest, "--no-deps")))
    target.mkdir(parents=True, exist_ok=True)
    if todo:
        done = subprocess.run([*pip, "install", "--no-index", "--find-links", str(wheels), "--no-deps", "--no-compile",
                               "--upgrade", "-q", "--target", str(target), *todo], capture_output=True, text=True,
                              env=env)
        if done.returncode:
            raise Missing(explain(done.stderr + done.stdout, wheels, manifest, []))
    _write_kernel(target)
    return todo


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--target", required=True, help="folder to install into (put it on PYTHONPATH)")
    p.add_argument("--wheels", default=str(WHEELS), help="the folder benchmarks/gpu_wheels.py wrote (default: wheels/)")
    a = p.parse_args(argv)
    try:
        todo = install(Path(a.wheels).resolve(), Path(a.target).resolve())
    except Missing as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lacked = sorted(t.split("==")[0] for t in todo if canon(t.split("==")[0]) in
                    {canon(_name(r)) for r in course_requirements()})
    print(f"{len(todo)} packages installed into {a.target}"
          + (f" (the course's requirements {sys.executable} lacked: {', '.join(lacked)}; and what they need)"
             if todo else f" ({sys.executable} has all the course needs)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
