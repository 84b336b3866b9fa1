"""The shape of one dataset's record in `helpers.data.registry`, and of its `data_download.py`
sub-command. The records themselves, and how to add one, are in the registry."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Download:
    """`python data_download.py <command>`: how a source gets onto disk."""

    command: str  # the sub-command; also the dataset its "use it with" line names
    help: str  # its line in the list of sub-commands
    summary: str  # its paragraph in `data_download.py --help` (wrapped lines indented by 15)
    examples: tuple[str, ...]  # its lines under "examples:" there
    description: str  # `data_download.py <command> --help`
    epilog: str
    add_arguments: Callable[[argparse.ArgumentParser], None]  # its options, after --dest and --quiet
    run: Callable[[argparse.Namespace], Path]  # does the work, prints its report, returns the data folder
    dest_help: str = ""  # --dest's help where its default is not data/<command>
    note: str = ""  # printed after the "use it with" line


@dataclass(frozen=True)
class Dataset:
    """Everything the course knows about one dataset; `--dataset <name>` picks it."""

    name: str
    classes: tuple[str, ...] | None  # in label order (label i is classes[i]); None: `describe` says
    hint: str  # how to get the data; ends every "not found" message
    reader: Callable  # reader(data_dir, dataset, *, check, skip_bad, progress) -> record table
    channels: int | None = 1  # 1 grey, 3 RGB (N, H, W, 3); None: `describe` says
    dup_threshold: float | None = None  # near-duplicate correlation; None: Config's default (0.97)
    load_image: Callable | None = None  # grey reader (path, size, resample) when decoding is not enough
    download: Download | None = None  # its data_download.py sub-command (one may serve two datasets)
    make: Callable | None = None  # make(cfg, progress): write the data into cfg.data_dir (made in code)
    # For data that says what it holds: describe(data_dir) -> (classes, channels). Such a
    # dataset has no default folder (--data-dir is required) and one runs folder per data folder.
    describe: Callable[[Path], tuple[tuple[str, ...], int]] | None = None

    def classes_and_channels(self, data_dir: str | Path | None) -> tuple[tuple[str, ...], int]:
        """(class names in label order, channels) of this dataset stored in `data_dir`."""
        if self.describe is not None:
            return self.describe(Path(data_dir))
        return tuple(self.classes), int(self.channels)
