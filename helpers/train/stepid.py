"""A training step's identity: its name and a hash of its code.

A run folder records which step trained it only when that step is not the default one,
so a run trained by a changed step (a student's hinge loss, say) is never resumed by the
default one, or the other way round; the notebooks' own copies of the default steps have
the same code, so they share their runs with the command line."""

from __future__ import annotations

import hashlib
import inspect
import textwrap


def step_id(fn) -> str:
    try:
        src = textwrap.dedent(inspect.getsource(fn))
    except (OSError, TypeError):  # defined where its code cannot be read back
        return f"{getattr(fn, '__qualname__', repr(fn))}:unknown"
    return f"{fn.__name__}:{hashlib.sha1(src.encode()).hexdigest()[:10]}"


def step_config(step, default) -> dict:
    """{'step': id} for a step other than the default, else {} (what the run's config records)."""
    return {} if step is None or step_id(step) == step_id(default) else {"step": step_id(step)}
