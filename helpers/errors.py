"""The errors a user can cause, kept apart from bugs.

Every class here carries a message that names the file or setting at fault and says what to
do next. The command line prints such an error as one line and exits with status 2; any
other exception is a bug in the course and keeps its traceback.
"""

from __future__ import annotations


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
