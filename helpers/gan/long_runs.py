"""Where a quick run is heading: the course's GANs trained longer, shipped with the course.

A quick run stops after a few CPU minutes. Notebooks 03-05b show, beside what the student's
run draws, what the same model draws after `LONG` times as many generator steps (the `long`
variant of helpers.gan.presets). Those generators ship with the course in
`helpers/assets/long_runs/`: the generator weights only, in half precision, each listed in
`manifest.json` with the command that trained it, its settings, steps, CPU-seconds and SHA-256.
They were trained on the training part of the default split (seed 0) of the quick phantom
(05b: of the BreakHis stand-in) and nothing else. They are for looking at: the synthetic sets of
notebooks 07 and 08 always come from the runs the student trained.

Remake them (each `train` command is in the manifest), then pack the run folders:

    python -m helpers.gan.long_runs RUNS/generators/wgan-long --dataset phantom --command "..." --cpu-s 1234
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from dataclasses import fields
from pathlib import Path

import torch

from helpers.errors import CheckpointError
from helpers.gan.core import generator_from, sample_uint8
from helpers.gan.presets import GanPreset
from helpers.train.checkpoint import load_checkpoint

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "long_runs"
MANIFEST = "manifest.json"
CONDITIONAL = "all"  # the model folder of a conditional GAN (one model for every class)


def _sha256(file: Path | bytes) -> str:
    """The SHA-256 of a file, given by its path or its bytes."""
    return hashlib.sha256(file if isinstance(file, bytes) else Path(file).read_bytes()).hexdigest()


def manifest(folder: Path | None = None) -> dict:
    """{name: entry} of the shipped generators (empty when none ship)."""
    path = Path(folder or ASSETS) / MANIFEST
    return json.loads(path.read_text()) if path.exists() else {}


def pack(model_dir: Path, name: str, dataset: str, command: str, cpu_s: float | None = None, classes=None,
         folder: Path | None = None) -> dict:
    """Store the generator of a trained run (its EMA copy when kept) in half precision as
    `<folder>/<name>.pt` and list it in the manifest; returns its entry."""
    folder = Path(folder or ASSETS)
    folder.mkdir(parents=True, exist_ok=True)
    ck, _ = load_checkpoint(Path(model_dir) / "checkpoint.pt")
    module = "generator_ema" if "generator_ema" in ck["modules"] else "generator"
    weights = {k: v.half() if v.is_floating_point() else v for k, v in ck["modules"][module].items()}
    path = folder / f"{name.replace('/', '--')}.pt"
    torch.save({"config": ck["config"], "step": int(ck["step"]), "generator": weights}, path)
    conf = ck["config"]
    entry = dict(file=path.name, sha256=_sha256(path), kind=conf["kind"], dataset=dataset, steps=int(ck["step"]),
                 classes=list(classes or []), settings={f.name: conf[f.name] for f in fields(GanPreset)},
                 size=conf["size"], seed=conf["seed"], n_images=conf["n_images"], data=conf["data"],
                 command=command, cpu_s=cpu_s)
    entries = manifest(folder)
    entries[name] = entry
    (folder / MANIFEST).write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
    return entry


def load(name: str, folder: Path | None = None) -> torch.nn.Module:
    """The shipped generator `name` (e.g. "wgan-phantom/benign", "cwgan-phantom/all"), checked against its
    SHA-256, in float32 and eval mode."""
    folder = Path(folder or ASSETS)
    entry = manifest(folder).get(name)
    if entry is None:
        raise CheckpointError(f"No long run {name!r} in {folder / MANIFEST}; known: "
                              f"{', '.join(manifest(folder)) or 'none'}.")
    path = folder / entry["file"]
    data = path.read_bytes() if path.exists() else b""  # read once: checked, then loaded
    if not data or _sha256(data) != entry["sha256"]:
        raise CheckpointError(f"{path} is missing or changed (its SHA-256 is not the manifest's); restore it "
                              "with `git checkout -- helpers/assets/long_runs`.")
    saved = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    return generator_from(saved["config"], saved["generator"], saved["step"]).eval()


def find(kind: str, dataset: str, size: int) -> dict:
    """{name: entry} of the shipped long run(s) of generator `kind` trained on `dataset`
    ("phantom" or "breakhis-standin") at `size` px; {} when none fits (the shipped runs only
    fit the data they were trained on)."""
    return {name: e for name, e in manifest().items()
            if e["kind"] == kind and e["dataset"] == dataset and e["size"] == size}


def samples(kind: str, dataset: str, size: int, classes, n: int, seed: int) -> dict:
    """{class: uint8 images} from the shipped long run of `kind`, drawn with the seeds
    `helpers.gan.pipeline.samples` uses (`seed` + the class's index in `classes`); {} when
    none fits."""
    out = {}
    for name, e in find(kind, dataset, size).items():
        G = load(name)
        model = name.rpartition("/")[2]
        for cls in (e["classes"] if model == CONDITIONAL else [model]):
            label = e["classes"].index(cls) if model == CONDITIONAL else None
            out[cls] = sample_uint8(G, n, seed + list(classes).index(cls), label)
    return {c: out[c] for c in classes if c in out}


def describe(kind: str, dataset: str, size: int) -> str:
    """One line: steps, CPU time and the command of the shipped long run(s) of `kind`."""
    found = list(find(kind, dataset, size).values())
    if not found:
        return f"No long run of the {kind} ships for {dataset} at {size} px."
    e, cpu, n = found[0], sum(v["cpu_s"] or 0 for v in found), sum(v["n_images"] for v in found)
    return (f"long run: {e['steps']} generator steps per model ({len(found)} model(s), {cpu / 60:.0f} CPU-min in "
            f"all), trained on {n} images, all from the default split's training part; "
            f"made with `{e['command']}`")


def total_bytes(folder: Path | None = None) -> int:
    folder = Path(folder or ASSETS)
    return sum((folder / e["file"]).stat().st_size for e in manifest(folder).values())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Pack a trained GAN run into helpers/assets/long_runs.")
    p.add_argument("run", type=Path, help="RUNS/generators/<out-name>: one folder per class model, or 'all'")
    p.add_argument("--dataset", required=True, help="what it was trained on: phantom or breakhis-standin")
    p.add_argument("--command", required=True, help="the command that trained it")
    p.add_argument("--cpu-s", type=float, default=None, help="the CPU-seconds it took, all models together")
    p.add_argument("--classes", default="", help="a conditional model's class names in label order, comma-separated")
    a = p.parse_args(argv)
    models = sorted(d for d in a.run.iterdir() if (d / "checkpoint.pt").exists())
    for d in models:
        classes = a.classes.split(",") if d.name == CONDITIONAL else []
        ck_kind = load_checkpoint(d / "checkpoint.pt")[0]["config"]["kind"]
        name = f"{ck_kind}-{a.dataset}/{d.name}"
        e = pack(d, name, a.dataset, a.command, a.cpu_s and a.cpu_s / len(models), classes)
        print(f"{name}: {e['file']} {e['steps']} steps {e['sha256'][:12]}")
    print(f"{total_bytes() / 1e6:.1f} MB in {ASSETS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
