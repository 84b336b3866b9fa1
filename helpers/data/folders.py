"""Reading a dataset stored as one folder per class (the BUSI layout).

Two layouts are accepted, and masks are never taken for images:
- official: `Dataset_BUSI_with_GT/<class>/<class> (i).png` with `<class> (i)_mask.png`
  (sometimes `_mask_1.png`, `_mask_2.png`) beside each image, sizes varying;
- resized: `<root>/<class>/<class> (i).png`, all one size, no masks.
The class folders may sit in a wrapper folder (an archive's, whose name varies between copies).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from helpers.data.images import checked_size, is_image_file, is_mask
from helpers.data.records import DataError, make_records


def find_class_root(data_dir: str | Path, classes, hint: str = "", depth: int = 1) -> Path:
    """The shallowest folder holding a class folder: `data_dir` itself or a wrapper folder
    inside it, down to `depth` levels."""
    data_dir = Path(data_dir).expanduser()
    if not data_dir.exists():
        raise DataError(f"Data folder {data_dir} does not exist. {hint}".strip())
    if not data_dir.is_dir():
        raise DataError(f"{data_dir} is a file, not a folder. If it is an archive, unpack it with "
                        f"`python data_download.py busi --from {data_dir}`.")
    level = [data_dir]
    for _ in range(depth + 1):
        for cand in level:
            if any((cand / c).is_dir() for c in classes):
                return cand
        level = [d for p in level for d in sorted(p.iterdir())
                 if d.is_dir() and not d.name.startswith((".", "__MACOSX"))]
    raise DataError(f"No class folders ({', '.join(classes)}) found in {data_dir}. "
                    f"Point the data folder at the directory that contains them. {hint}".strip())


def scan_class_folders(data_dir: str | Path, classes: list[str], source: str, check: bool = True,
                       skip_bad: bool = False, hint: str = "", progress: bool = True) -> pd.DataFrame:
    """Record table of every image under `<root>/<class>/`.

    `check` decodes every file so that a corrupt one is caught now, by name, not halfway
    through training; with `skip_bad` such files are left out and counted in
    `df.attrs["skipped"]`.
    """
    root = find_class_root(data_dir, classes, hint)
    rows, skipped = [], []
    for cls in classes:
        folder = root / cls
        if not folder.is_dir():
            raise DataError(f"Class folder {folder} is missing (expected one folder per class: "
                            f"{', '.join(classes)}). {hint}".strip())
        files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
        masks = [p for p in files if is_mask(p)]
        images = [p for p in files if not is_mask(p)]
        if not images:
            if masks:
                raise DataError(f"Class folder {folder} holds {len(masks)} mask files (e.g. "
                                f"'{masks[0].name}') but no images. Masks are segmentation labels, "
                                "not scans: point the data folder at the images.")
            raise DataError(f"Class folder {folder} has no images. Every class needs images; "
                            f"re-download the dataset or remove the empty class. {hint}".strip())
        mask_stems = {}
        for m in masks:
            stem = m.stem[: m.stem.lower().rfind("_mask")]
            mask_stems[stem] = mask_stems.get(stem, 0) + 1
        it = tqdm(images, desc=f"checking {cls}", unit="img", disable=not (progress and check), leave=False)
        for p in it:
            size = checked_size(p, check, skip_bad, skipped)
            if size is None:
                continue
            w, h = size
            rows.append(dict(path=str(p), class_name=cls, width=w, height=h, n_masks=mask_stems.get(p.stem, 0)))
    return make_records(rows, source, classes, skipped=skipped, root=root)


def read_class_folders(data_dir: str | Path, dataset, *, check: bool = True, skip_bad: bool = False,
                       progress: bool = True) -> pd.DataFrame:
    """The registry's reader for a dataset stored as one folder per class (BUSI, the phantom,
    BreastMNIST): its classes, its name as the source, its hint in every error."""
    return scan_class_folders(data_dir, list(dataset.classes), dataset.name, check=check, skip_bad=skip_bad,
                              hint=dataset.hint, progress=progress)
