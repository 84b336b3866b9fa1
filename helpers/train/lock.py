"""One process at a time per run folder (or per shared file), the package's one file lock.

Two trainings (or exports) writing into one folder would replace each other's checkpoint
and mix their histories. `run_lock(folder)` takes an exclusive lock on `<folder>/.lock`:
an OS file lock (`fcntl.flock`) where there is one, so a process that dies releases it by
itself; elsewhere an exclusive-create lock file whose holder is checked by process id. The
file records who holds it, so the refusal can name the holder.

`run_lock(folder, wait=True, name=...)` waits for the holder instead of refusing: several
processes appending to one file (the classifier grid's results.csv,
`helpers.classify.grid`) take turns.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path

from helpers.errors import RunLocked

LOCK = ".lock"

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


def _holder() -> dict:
    return dict(pid=os.getpid(), host=socket.gethostname(), since=time.strftime("%Y-%m-%d %H:%M:%S"),
                command=" ".join(sys.argv)[:300])


def _describe(text: str) -> str:
    try:
        h = json.loads(text)
        return f"process {h['pid']} on {h['host']} (since {h['since']}: {h['command'] or 'python'})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _refuse(folder: Path, text: str, what: str, stale_hint: bool = False):
    hint = f" If no such process exists any more, delete {folder / LOCK}." if stale_hint else ""
    raise RunLocked(f"{folder} is being {what} by {_describe(text)} right now. Wait for it to finish (a "
                    "finished run is then reused), or use another run folder (--out-name NAME or "
                    f"--runs-dir).{hint}") from None


@contextlib.contextmanager
def run_lock(folder: str | Path, what: str = "trained", wait: bool = False, name: str = LOCK):
    """Hold the folder's lock (`<folder>/<name>`) for the duration of the block; RunLocked if
    someone else has it, or, with `wait`, once they have released it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if fcntl is not None:
        f = open(path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            text = f.read()
            f.close()
            _refuse(folder, text, what)
        try:
            f.seek(0)
            f.truncate()
            f.write(json.dumps(_holder()))
            f.flush()
            yield
        finally:
            f.seek(0)
            f.truncate()  # the file stays (unlinking would race with a waiting process)
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()
        return
    tries = 0
    while tries < 2:  # no fcntl: exclusive create, a dead holder's file taken over
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            break
        except FileExistsError:
            try:
                text = path.read_text()
            except FileNotFoundError:  # released in between
                continue
            try:
                pid = int(json.loads(text)["pid"])
            except (ValueError, KeyError, TypeError):
                pid = 0
            if pid and pid != os.getpid() and _alive(pid):
                if wait:
                    time.sleep(0.05)
                    continue
                _refuse(folder, text, what, stale_hint=True)
            path.unlink(missing_ok=True)
            tries += 1
    else:
        raise RunLocked(f"Could not take the lock {path}; delete it if no other process is using {folder}.")
    os.write(fd, json.dumps(_holder()).encode())
    os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
