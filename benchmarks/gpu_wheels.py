"""The wheels the GPU check (benchmarks/gpu_check.sh) installs on a GPU machine that has no
network, only its own Python and a CUDA PyTorch. Run on a machine with pip access (the course's
virtual environment, or any Python with pip):

    python benchmarks/gpu_wheels.py                   # -> wheels/: Python 3.12, manylinux x86_64

It writes the wheels of the course's other dependencies (fastai, papermill, ipykernel and all
they need, at the versions pinned in constraints.txt) into `wheels/` (ignored by git), with
`manifest.json` beside them, and fails if they pass 50 MB. Left out, because a GPU machine's
image has them and they are big: EXCLUDED below (`--include scipy` adds one back, `--exclude`
replaces the list); and DROPPED, needed by a package's metadata but never imported by the
course. benchmarks/gpu_wheels_install.py installs them on the GPU machine.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the manifest's copy of the requirements is used
    tomllib = None

ROOT = Path(__file__).resolve().parents[1]
WHEELS = ROOT / "wheels"
# A check runs notebooks headless: JupyterLab and its widgets are for a person at a browser.
NOT_NEEDED = {"jupyterlab", "ipywidgets"}
# On a GPU machine's image already, and too big for the folder: PyTorch with its CUDA libraries
# and the scientific stack (fnmatch patterns on normalised names).
EXCLUDED = ("torch", "torchvision", "torchaudio", "triton", "nvidia-*", "cuda-*", "numpy", "scipy", "pandas",
            "scikit-learn", "matplotlib", "pillow")
# Needed by a course requirement's package metadata but never imported by the course: fastai's
# text models need spaCy (with thinc and blis, 50 MB); the course trains vision models only.
DROPPED = ("spacy",)
HINT = "run `python benchmarks/gpu_wheels.py` on a machine with pip access and copy wheels/ here"


class Missing(Exception):
    """A piece the check cannot do without; the message says which and what to do."""


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def excluded(name: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(canon(name), p) for p in patterns)


def course_requirements(manifest: dict | None = None) -> list[str]:
    """pyproject.toml's dependencies that a check needs (the manifest's copy without tomllib)."""
    if tomllib is None:
        if not manifest:
            raise Missing(f"Python {sys.version.split()[0]} has no tomllib to read pyproject.toml and there is "
                          f"no manifest.json: {HINT}")
        return manifest["requirements"]
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return [d for d in deps if canon(re.match(r"[A-Za-z0-9._-]+", d).group(0)) not in NOT_NEEDED]


def _packaging():
    """packaging, else pip's own copy: any Python with pip writes the wheels (only this step
    reads requirements; the GPU machine's install step needs the standard library alone)."""
    try:
        import packaging.requirements
        import packaging.utils
    except ModuleNotFoundError:
        import pip._vendor.packaging as packaging
        import pip._vendor.packaging.requirements
        import pip._vendor.packaging.utils  # noqa: F401
    return packaging


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.split("#")[0].strip().partition("==")
        if sep:
            pins[canon(name)] = version.strip()
    return pins


def _environment(python: str, platform: str) -> dict[str, str]:
    """PEP 508 marker values of the GPU machine's Python."""
    return dict(implementation_name="cpython", implementation_version=f"{python}.0", os_name="posix",
                platform_machine="aarch64" if "aarch64" in platform else "x86_64",
                platform_python_implementation="CPython", platform_release="", platform_system="Linux",
                platform_version="", python_full_version=f"{python}.0", python_version=python, sys_platform="linux")


def _requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(z.read(meta).decode()).get_all("Requires-Dist") or []


def _platforms(tag: str) -> list[str]:
    """manylinux_2_28_x86_64 and every older manylinux tag a glibc-2.28 machine runs (pip takes
    --platform literally)."""
    m = re.fullmatch(r"manylinux_2_(\d+)_(\w+)", tag)
    if not m:
        return [tag]
    glibc, arch = int(m.group(1)), m.group(2)
    legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    return [t for g in range(glibc, 4, -1) for t in (f"manylinux_2_{g}_{arch}",
                                                     f"{legacy[g]}_{arch}" if g in legacy else None) if t]


def _fetch(specs: list[str], a) -> str:
    """pip download of `specs` alone (no dependencies) for the GPU machine's Python; '' or the error."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
           a.python_version, "--implementation", "cp", "--abi", "cp" + a.python_version.replace(".", ""),
           *[f"--platform={t}" for t in _platforms(a.platform)], "-d", str(a.dest), "-q", *specs]
    done = subprocess.run(cmd, capture_output=True, text=True)
    return "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["pip failed"])[-1]


def _choose(n: str, reqs: list, pins: dict, a) -> tuple[str, Path]:
    """The wheel downloaded for `n`: the pinned version, else the newest that fits `reqs`."""
    parse_wheel_filename = _packaging().utils.parse_wheel_filename
    found = [(parse_wheel_filename(p.name)[1], p) for p in a.dest.glob("*.whl")
             if canon(parse_wheel_filename(p.name)[0]) == n]
    fits = [(v, p) for v, p in found if (str(v) == pins[n] if n in pins else all(v in r.specifier for r, _ in reqs))]
    version, path = max(fits)
    return str(version), path


def _get(wants: dict, pins: dict, a) -> list[str]:
    """Download the wheels of `wants` (name -> [(requirement, by)]); what could not be had."""
    specs = {n: f"{n}=={pins[n]}" if n in pins else n + ",".join(str(r.specifier) for r, _ in reqs if r.specifier)
             for n, reqs in wants.items()}
    if not specs or not _fetch(list(specs.values()), a):
        return []
    bad = []
    for n, s in specs.items():
        if not (err := _fetch([s], a)):
            continue
        # constraints.txt is the course's environment's, for its own Python: where a pin has no
        # wheel for this one, the newest release that fits what needs it, said aloud
        loose = n + ",".join(str(r.specifier) for r, _ in wants[n] if r.specifier)
        if n in pins and not _fetch([loose], a):
            print(f"  {s} has no wheel for Python {a.python_version} on {a.platform}: took the newest {loose}")
            del pins[n]
        else:
            bad.append(f"{s} ({err})")
    return bad


def download(a) -> int:
    Requirement = _packaging().requirements.Requirement

    a.dest = Path(a.dest).resolve()
    a.dest.mkdir(parents=True, exist_ok=True)
    patterns = tuple(p for p in (a.exclude.split(",") if a.exclude is not None else EXCLUDED)
                     if p and canon(p) not in {canon(i) for i in a.include})
    drop = {canon(d) for d in (a.drop.split(",") if a.drop is not None else DROPPED) if d}
    pins, env = _pins(), _environment(a.python_version, a.platform)
    roots = course_requirements()
    pending = [(Requirement(r), "the course") for r in roots] + [(Requirement("pip"), "a Python without pip")]
    chosen: dict[str, tuple[str, Path]] = {}   # name -> (version, wheel)
    expanded: dict[str, set[str]] = {}         # name -> extras whose dependencies are queued
    on_target: dict[str, list[str]] = {}       # left out: what needs them
    no_deps: dict[str, list[str]] = {}         # a course requirement that needs a dropped one: its other needs
    while pending:
        wants: dict[str, list] = {}
        for req, by in pending:
            if excluded(req.name, patterns):
                on_target.setdefault(canon(req.name), []).append(f"{req.specifier or 'any'} ({by})")
            else:
                wants.setdefault(canon(req.name), []).append((req, by))
        new = {n: reqs for n, reqs in wants.items() if n not in chosen}
        print(f"{len(new)} wheels to fetch, {len(chosen)} fetched", flush=True)
        if bad := _get(new, pins, a):
            print(f"no wheel for Python {a.python_version} on {a.platform}: " + "; ".join(bad), file=sys.stderr)
            return 1
        chosen.update({n: _choose(n, reqs, pins, a) for n, reqs in new.items()})
        pending = []
        for n, reqs in wants.items():
            version, path = chosen[n]
            if clash := [f"{r} ({by})" for r, by in reqs if not r.specifier.contains(version, prereleases=True)]:
                print(f"{n}=={version}{' (constraints.txt)' if n in pins else ''} does not fit {', '.join(clash)}",
                      file=sys.stderr)
                return 1
            todo = ({""} | {e for r, _ in reqs for e in r.extras}) - expanded.setdefault(n, set())
            expanded[n] |= todo
            deps = [d for d in map(Requirement, _requires(path) if todo else [])
                    if d.marker is None or any(d.marker.evaluate({**env, "extra": e}) for e in todo)]
            if any(canon(d.name) in drop for d in deps):
                if n not in {canon(Requirement(r).name) for r in roots}:
                    print(f"{n} needs {', '.join(sorted(drop))}: only a course requirement's needs can be dropped",
                          file=sys.stderr)
                    return 1
                no_deps[n] = [f"{d.name}{'[' + ','.join(sorted(d.extras)) + ']' if d.extras else ''}{d.specifier}"
                              for d in deps if canon(d.name) not in drop]
            pending += [(d, f"{n} {version}") for d in deps if canon(d.name) not in drop]
    return _write(a, roots, patterns, drop, chosen, on_target, no_deps)


def _write(a, roots, patterns, drop, chosen, on_target, no_deps) -> int:
    """manifest.json beside the wheels; stale wheels out; the size told and held to --max-mb."""
    keep = {p for _, p in chosen.values()}
    stale = [p for p in a.dest.glob("*.whl") if p not in keep]
    for p in stale:  # other versions from an earlier download into this folder
        p.unlink()
    sizes = sorted(((p.stat().st_size, n) for n, (_, p) in chosen.items()), reverse=True)
    total = sum(s for s, _ in sizes) / 2**20
    manifest = dict(python=a.python_version, platform=a.platform, excluded=list(patterns), dropped=sorted(drop),
                    requirements=roots, no_deps=no_deps,
                    wheels={n: dict(version=v, file=p.name) for n, (v, p) in sorted(chosen.items())},
                    on_target={n: sorted(set(by)) for n, by in sorted(on_target.items())})
    (a.dest / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    print(f"{len(chosen)} wheels in {a.dest}{f' ({len(stale)} stale ones removed)' if stale else ''}: "
          f"{total:.1f} MB; the largest: " + ", ".join(f"{n} {s / 2**20:.1f}" for s, n in sizes[:5]))
    print("left out (expected on the GPU machine): " + ", ".join(sorted(on_target)))
    print("dropped (not used by the course): " + (", ".join(sorted(drop)) or "none"))
    if total > a.max_mb:
        print(f"the wheels pass {a.max_mb:g} MB: leave out more with --exclude", file=sys.stderr)
        return 1
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dest", default=str(WHEELS), help="folder for the wheels (default: wheels/ in the course)")
    p.add_argument("--python-version", default="3.12", help="the GPU machine's Python (default 3.12)")
    p.add_argument("--platform", default="manylinux_2_28_x86_64",
                   help="the GPU machine's newest platform tag; older manylinux tags are taken too "
                        "(default manylinux_2_28_x86_64)")
    p.add_argument("--exclude", default=None,
                   help=f"comma-separated names left out, replacing the default {','.join(EXCLUDED)}")
    p.add_argument("--include", nargs="*", default=[], help="names to take out of the exclusions")
    p.add_argument("--drop", default=None,
                   help=f"comma-separated dependencies never imported (default {','.join(DROPPED)}; '' for none)")
    p.add_argument("--max-mb", type=float, default=50, help="fail when the wheels pass this size (default 50)")
    return download(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
