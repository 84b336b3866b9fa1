"""The errors a user can cause, kept apart from bugs.

Every class here carries a message that names the file or setting at fault and says what to
do next. The command line prints such an error as one line and exits with status 2; any
other exception is a bug in the course and keeps its traceback.
"""

from __future__ import annotations

import errno
import re

# What a full disk or a file-size limit (ulimit -f) looks like from Python and from torch.save.
_NO_ROOM = (errno.ENOSPC, errno.EFBIG, getattr(errno, "EDQUOT", errno.ENOSPC))
_TORCH_WRITE = ("inline_container", "PytorchStreamWriter", "file write failed")
_SHORT_WRITE = re.compile(r"\d+ requested and \d+ written")  # numpy's tofile on a short write


class CourseError(Exception):
    """A user error: bad input, a busy or damaged run folder, a run that failed to train."""

    def _render_traceback_(self) -> list[str]:
        """In a notebook (IPython asks for this), the one line, not a traceback; papermill's
        error then ends with it too."""
        return [f"{type(self).__name__}: {self}"]


class DataError(CourseError, ValueError):
    """Bad or missing input data. The message names the file and says what to do next."""


class SettingError(CourseError, ValueError):
    """A setting (command-line option, preset value, name) that cannot be used."""


class CheckpointError(CourseError):
    """A checkpoint that cannot be read (empty, truncated, not a checkpoint)."""


class RunLocked(CourseError, RuntimeError):
    """Another process is training or exporting into the same folder right now."""


class TrainingDiverged(CourseError, RuntimeError):
    """A loss became NaN/inf or exploded, or a GAN collapsed. The message says where and what to try."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training; the message says where it stopped and how to resume."""


def no_room(e: BaseException) -> str | None:
    """One line for an error that means the disk is full or a file-size limit was reached while
    writing (any stage: a checkpoint, an exported set, a table), else None. Every write of the
    course goes through a temporary file and a rename, so what was finished before is intact."""
    if isinstance(e, OSError) and e.errno in _NO_ROOM:
        what = f" {e.filename}" if e.filename else ""
        reason = e.strerror
    elif (isinstance(e, RuntimeError) and any(t in str(e) for t in _TORCH_WRITE)) or (
            isinstance(e, OSError) and _SHORT_WRITE.search(str(e))):
        what, reason = "", "the file was cut short while writing"
    else:
        return None
    return (f"Could not write{what} ({reason}): the disk is full or a file-size limit (ulimit -f) was reached. "
            "Free some space (or raise the limit) and run the same command again: finished work is kept and "
            "training goes on from its last checkpoint.")
