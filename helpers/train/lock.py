"""One process at a time per run folder (or per shared file), the package's one file lock.

Two trainings (or exports) writing into one folder would replace each other's checkpoint
and mix their histories. `run_lock(folder)` takes an exclusive lock on `<folder>/.lock`: an
OS file lock (`fcntl.flock`), so a process that dies releases it by itself; where there is
none (Windows), a lock file created exclusively and removed on release. The file records who
holds it, so the refusal can name the holder. With `wait=True` (and a `name` of its own)
several processes take turns instead: the classifier grid's writers of results.csv
(`helpers.classify.grid`).
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


def _refuse(path: Path, what: str):
    try:
        h = json.loads(path.read_text())
        who = f"process {h['pid']} on {h['host']} (since {h['since']}: {h['command'] or 'python'})"
    except (OSError, ValueError, KeyError, TypeError):  # released meanwhile, or not yet written
        who = "another process"
    stale = "" if fcntl else f" If no such process exists any more, delete {path}."
    raise RunLocked(f"{path.parent} is being {what} by {who} right now. Wait for it to finish "
                    "(a finished run is then reused), or use another run folder (--out-name NAME or "
                    f"--runs-dir).{stale}") from None


@contextlib.contextmanager
def run_lock(folder: str | Path, what: str = "trained", wait: bool = False, name: str = LOCK):
    """Hold the folder's lock (`<folder>/<name>`) for the duration of the block; RunLocked if
    someone else has it, or, with `wait`, once they have released it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    holder = json.dumps(dict(pid=os.getpid(), host=socket.gethostname(), command=" ".join(sys.argv)[:300],
                             since=time.strftime("%Y-%m-%d %H:%M:%S")))
    if fcntl is None:
        while True:
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                break
            except FileExistsError:
                if not wait:
                    _refuse(path, what)
                time.sleep(0.05)
        os.write(fd, holder.encode())
        os.close(fd)
        try:
            yield
        finally:
            path.unlink(missing_ok=True)
        return
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            _refuse(path, what)
        try:
            f.seek(0)
            f.truncate()
            f.write(holder)
            f.flush()
            yield
        finally:
            f.seek(0)
            f.truncate()  # the file stays (unlinking would race with a waiting process)
            fcntl.flock(f, fcntl.LOCK_UN)
