"""Checkpoint files that survive a kill, a full disk and a second process.

- `atomic_save` writes to a temporary file with a name no other process uses, then renames
  it over the checkpoint in one step. The checkpoint it replaces is kept as
  `<name>.prev`, so a damaged newest file still leaves a good one to fall back to.
- `load_checkpoint` reads with `torch.load(weights_only=True)` (no code runs from the file)
  and turns an empty, truncated or foreign file into a `CheckpointError` that names the file
  and says what to do, instead of a torch traceback. `fallback=True` takes `.prev` then.
  `read_checkpoint` reads one file and tells a file torch refuses (`ForeignCheckpoint`: not
  written by the course, or crafted) from one cut short.
- `step_config` names the training step in the run's config when it is not the default one,
  so a run trained by a changed step (a student's hinge loss, say) is never resumed by the
  default one, or the other way round; the notebooks' own copies of the default steps have
  the same code, so they share their runs with the command line.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import shutil
import tempfile
import textwrap
import warnings
import zipfile
from pathlib import Path

import torch

from helpers.errors import CheckpointError

PREVIOUS = ".prev"


def unique_temp(path: Path, suffix: str = ".part") -> Path:
    """A fresh temporary file beside `path` whose name no other process will pick."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    return Path(tmp)


def previous(path: Path) -> Path:
    return path.with_name(path.name + PREVIOUS)


def atomic_save(obj, path: str | Path, keep_previous: bool = True) -> None:
    """torch.save to a unique temporary file, then rename over `path` (after moving the
    current `path` to `<path>.prev` when `keep_previous`)."""
    path = Path(path)
    tmp, keep = unique_temp(path), None
    try:
        torch.save(obj, tmp)
        if keep_previous and path.exists():
            # The old file gets a second name before the new one takes its place, so at no
            # moment is there no checkpoint under `path` (a hard link; a copy where links fail).
            keep = unique_temp(path, ".prev.part")
            keep.unlink()
            try:
                os.link(path, keep)
            except OSError:
                shutil.copy2(path, keep)
            os.replace(keep, previous(path))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
        if keep is not None:  # a rename onto another link of the same file leaves the name behind
            keep.unlink(missing_ok=True)


class ForeignCheckpoint(CheckpointError):
    """A file torch refuses to unpickle: not a checkpoint the course wrote (nothing in it ran)."""


def read_checkpoint(path: Path):
    """The contents of one checkpoint file; CheckpointError if empty or cut short,
    ForeignCheckpoint if it is no checkpoint (torch's weights-only reader refuses it)."""
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty")
    try:
        with warnings.catch_warnings():  # torch warns of a foreign file's pickle protocol before refusing it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's message advises weights_only=False: never for a course file
        raise ForeignCheckpoint(f"{path} cannot be read (it is not a checkpoint written by the course; "
                                "nothing in it was run)") from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError,
            zipfile.BadZipFile) as e:  # a torch file cut short
        raise CheckpointError(f"{path} cannot be read ({type(e).__name__}: {str(e).splitlines()[0][:120]})") \
            from None


def load_checkpoint(path: str | Path, fallback: bool = False, what: str = "checkpoint") -> tuple[dict, Path]:
    """(the checkpoint's contents, the file they came from).

    A damaged `path` raises CheckpointError, or with `fallback` loads `<path>.prev` (the
    checkpoint written before it) and says so."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(path)
    try:
        return read_checkpoint(path), path
    except CheckpointError as e:
        prev = previous(path)
        if fallback and prev.exists():
            try:
                ck = read_checkpoint(prev)
            except CheckpointError:
                pass
            else:
                print(f"warning: {e}; going on from the previous {what}, {prev.name} (step {ck.get('step', '?')}).")
                return ck, prev
        raise CheckpointError(
            f"The {what} {e}: it is damaged (empty or cut short, e.g. by a full disk or a kill while "
            f"copying) and no readable earlier copy ({prev.name}) is beside it. Delete {path} and run "
            "the same command again to train from the start.") from None


def step_id(fn) -> str:
    """A training step's identity: its name and a hash of its code."""
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):  # defined where its code cannot be read back
        return f"{getattr(fn, '__qualname__', repr(fn))}:unknown"
    return f"{fn.__name__}:{hashlib.sha1(src.encode()).hexdigest()[:10]}"


def step_config(step, default) -> dict:
    """{'step': id} for a step other than the default, else {} (what the run's config records)."""
    return {} if step is None or step_id(step) == step_id(default) else {"step": step_id(step)}
