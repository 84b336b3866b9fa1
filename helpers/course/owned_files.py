"""Copies the course writes for someone else to edit (student notebooks, nbgrader releases).

A copy may have been edited since it was written: a student's answers, an instructor's
changes. Such a file is never overwritten. Each folder keeps a small record
(`.course-copies.json`) of the checksum of every file the course wrote there; a file is
replaced only while it still holds exactly what the course wrote (the course's notebook
changed, the copy did not). An edited file, or one the course never wrote, is kept, and the
new version goes beside it into `updates/`, with one line saying so.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

RECORD = ".course-copies.json"
UPDATES = "updates"  # where a new version goes when the copy in place was edited

WRITTEN, UPDATED, UNCHANGED, KEPT, MISSING_ONLY = "written", "updated", "unchanged", "kept", "skipped"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(folder: Path) -> dict:
    try:
        return json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return {}


def _write_record(folder: Path, record: dict) -> None:
    tmp = folder / (RECORD + ".part")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    tmp.replace(folder / RECORD)


def _put(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(data)
    tmp.replace(path)  # atomic: an interrupted write leaves the old file whole


@dataclass(frozen=True)
class Copy:
    path: Path  # the copy in place
    status: str  # written | updated | unchanged | kept | skipped
    new_version: Path | None = None  # where the new version went when the copy was kept

    def line(self) -> str:
        """The one line a command prints for this copy."""
        if self.status == KEPT:
            return f"kept      {self.path} (edited since the course wrote it); new version: {self.new_version}"
        return f"{self.status:9} {self.path}"


def write_copy(folder: str | Path, name: str, data: bytes, missing_only: bool = False) -> Copy:
    """Write `data` as `folder/name` unless that would lose someone's edits: `written` (a new
    file), `updated` (replaced a copy nobody had edited), `unchanged`, `kept` (the file was
    edited or is not the course's: left as it is, the new version written to
    `folder/updates/name`), or, with `missing_only`, `skipped` for any file already there."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    record = _read_record(folder)
    path = folder / name

    def put(status: str) -> Copy:
        _put(path, data)
        record[name] = _sha(data)
        _write_record(folder, record)
        return Copy(path, status)

    if not path.exists():
        return put(WRITTEN)
    current = _sha(path.read_bytes())
    if current == _sha(data):
        if record.get(name) != current:
            record[name] = current
            _write_record(folder, record)
        return Copy(path, UNCHANGED)
    if missing_only:
        return Copy(path, MISSING_ONLY)
    if record.get(name) == current:  # still what the course wrote: nobody's edits to lose
        return put(UPDATED)
    side = write_copy(folder / UPDATES, name, data)  # that copy is guarded the same way
    return Copy(path, KEPT, side.new_version or side.path)
