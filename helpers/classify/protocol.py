"""The evaluation protocol, enforced: what the studies did not guarantee.

Before any image is scored, `check_evaluation` proves that
1. every evaluation image is a real image (record `source` is not "synthetic") and none is
   listed in a synthetic manifest that the classifier was trained with;
2. no evaluation image is also a training image, and no near-duplicate group is on both
   sides (a copy of a test scan in training measures memory, not skill);
3. no generator whose images are in the training set saw an evaluation image, or an image
   of the same near-duplicate group, while it was trained (its `trained_on.csv`).
A violation raises `ProtocolError` saying which image and what to do; nothing is scored.
The DCGAN study (generators trained on all images) breaks rule 3; the DDPM study (synthetic
images in the test split) breaks rule 1.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from helpers.classify.data import plain
from helpers.data.records import DataError
from helpers.synth import read_trained_on


class ProtocolError(DataError):
    """An evaluation would score synthetic images or images a model or generator has seen."""


def _resolved(paths) -> list[str]:
    return [str(Path(p).resolve()) for p in paths]


def check_evaluation(eval_records: pd.DataFrame, train_records: pd.DataFrame | None = None,
                     manifests: list | tuple = (), all_records: pd.DataFrame | None = None) -> None:
    """Raise ProtocolError unless `eval_records` are real, unseen images (see module doc).

    train_records: what the classifier trains on (real and synthetic rows); manifests: the
    synthetic sets it uses; all_records: the full real record table, to map a generator's
    training images to near-duplicate groups (default: eval + train records)."""
    if len(eval_records) == 0:
        raise ProtocolError("The evaluation set is empty; check the split/fold you asked for.")
    if "source" not in eval_records.columns:
        raise ProtocolError("Evaluation records have no 'source' column, so they cannot be shown to be real. "
                            "Use the table from helpers.prepare.load_prepared(cfg).")
    synth = eval_records[eval_records["source"].astype(str) == "synthetic"]
    if len(synth):
        raise ProtocolError(f"{len(synth)} synthetic image(s) are in the evaluation set (e.g. {synth['path'].iloc[0]}). "
                            "Test images must be real: put synthetic images in the training part only.")
    eval_paths = set(_resolved(eval_records["path"]))
    for m in manifests:
        from helpers.synth import read_manifest

        listed = eval_paths & set(_resolved(read_manifest(m)["path"]))
        if listed:
            raise ProtocolError(f"{len(listed)} evaluation image(s) are listed in the synthetic manifest {m} "
                                f"(e.g. {sorted(listed)[0]}). Test images must be real.")
    if train_records is not None and len(train_records):
        both = eval_paths & set(_resolved(train_records["path"]))
        if both:
            raise ProtocolError(f"{len(both)} image(s) are in both the training and the evaluation set "
                                f"(e.g. {sorted(both)[0]}). Rebuild the split with `python -m helpers prepare`.")
        real_train = train_records[train_records["source"].astype(str) != "synthetic"]
        if "group" in real_train and "group" in eval_records:
            shared = set(real_train["group"]) & set(eval_records["group"])
            if shared:
                raise ProtocolError(f"{len(shared)} near-duplicate group(s) have images in both training and "
                                    f"evaluation (e.g. group {sorted(shared)[0]}). Use the grouped split/folds "
                                    "from `python -m helpers prepare`.")
    table = all_records if all_records is not None else pd.concat(
        [plain(eval_records), plain(train_records) if train_records is not None else eval_records.iloc[:0]])
    group_of = dict(zip(_resolved(table["path"]), table["group"])) if "group" in table else {}
    eval_groups = {group_of.get(p) for p in eval_paths} - {None}
    for m in manifests:
        seen = read_trained_on(m)
        leaked = eval_paths & seen
        if leaked:
            raise ProtocolError(f"The generator behind {m} was trained on {len(leaked)} evaluation image(s) "
                                f"(e.g. {sorted(leaked)[0]}). Train the generator on this fold's training part "
                                "only (helpers.generators.train_and_export(..., train_records=...)).")
        near = {group_of[p] for p in seen if p in group_of} & eval_groups
        if near:
            raise ProtocolError(f"The generator behind {m} was trained on near-duplicates of evaluation images "
                                f"({len(near)} group(s), e.g. group {sorted(near)[0]}). Train it on this fold's "
                                "training part only.")
