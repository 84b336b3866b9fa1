"""The evaluation protocol, enforced: what the studies did not guarantee.

Before any image is scored, `check_evaluation` proves that
1. every evaluation image is a real image (record `source` is not "synthetic") and none is
   listed in a synthetic manifest that the classifier was trained with;
   A listed image that is a near-copy of an evaluation image ("manifest-twin": the same
   thumbnail test as below, e.g. a test image brightened by one grey level) is refused too;
2. no evaluation image is also a training image, and no near-duplicate group is on both
   sides (a copy of a test scan in training measures memory, not skill). Images are matched
   by path AND by content: the same decoded pixels under another path ("same-pixels"), or a
   32x32 thumbnail whose Pearson correlation with a real training image exceeds 0.97 (the
   course's near-duplicate test, `helpers.data.duplicates`; "near-twin"). Copying a test image
   elsewhere, or re-saving it resized, does not get it past the guard;
3. no generator whose images are in the training set saw an evaluation image, or an image
   of the same near-duplicate group, while it was trained (its `trained_on.csv`; by path,
   group and content as in 2).
A violation raises `ProtocolError` saying which image and what to do; nothing is scored.
The DCGAN study (generators trained on all images) breaks rule 3; the DDPM study (synthetic
images in the test split) breaks rule 1; a random split of BUSI breaks rule 2.

Named shortcuts. To MEASURE what such a protocol is worth, it can be run on purpose, by name:
`check_evaluation(..., leak="random-split")` lets through exactly the violations that shortcut
causes (`LEAKS`), still refuses every other one, and returns the violations it let through
(a list of `Violation`) so the result row can carry them (`protocol="leaky:random-split"`).
Nothing is switched off silently: an honest call returns an empty list.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.classify.data import plain
from helpers.data.duplicates import DEFAULT_THRESHOLD, THUMB_SIZE
from helpers.data.images import load_gray
from helpers.data.records import DataError
from helpers.data.registry import image_reader
from helpers.errors import SettingError
from helpers.synth import read_manifest, read_trained_on

# The rules, in the order a refusal reports them.
RULES = ("synthetic-in-test", "manifest-in-test", "manifest-twin", "same-path", "same-group", "same-pixels", "near-twin",
         "generator-saw-test", "generator-saw-twin")
# The named shortcuts and the rules each one breaks (and only those may pass).
LEAKS = {
    "random-split": ("same-group", "same-pixels", "near-twin"),     # split blind to near-duplicates
    "loose-groups": ("near-twin",),                                  # grouped above the guard's threshold
    # DCGAN / WGAN studies (a generator that saw the test images may give near-copies of them)
    "generator-saw-test": ("generator-saw-test", "generator-saw-twin", "manifest-twin"),
    "synthetic-in-test": ("synthetic-in-test", "manifest-in-test", "manifest-twin"),  # DDPM study's 80/20 of real + synthetic
}


class ProtocolError(DataError):
    """An evaluation would score synthetic images or images a model or generator has seen."""


@dataclass(frozen=True)
class Violation:
    """One broken rule: how many evaluation images it concerns, one example, the full message."""

    rule: str
    count: int
    example: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule} ({self.count})"


def _resolved(paths) -> list[str]:
    return [str(Path(p).resolve()) for p in paths]


# -- content: a hash of the decoded pixels and a 32x32 thumbnail, once per file ----------------
_CONTENT: dict = {}


def _thumb_reader(source):
    """How the near-duplicate thumbnails of `source` are read (a source may crop its images
    first, e.g. mammograms); plain decoding when the registry has no reader for it."""
    return load_gray if source in (None, "", "synthetic") else image_reader(str(source))


def content(path, source=None) -> tuple[str, np.ndarray]:
    """(sha256 of the decoded grayscale pixels and their shape, 32x32 bilinear thumbnail) of
    an image, cached per (path, size, modification time, source). The thumbnail is read the
    way the near-duplicate groups read it (`helpers.data.duplicates.thumbnails`)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns, str(source))
    if key not in _CONTENT:
        px = load_gray(path)
        digest = hashlib.sha256(f"{px.shape}".encode() + px.tobytes()).hexdigest()
        _CONTENT[key] = (digest, np.asarray(_thumb_reader(source)(path, THUMB_SIZE, "bilinear")))
    return _CONTENT[key]


def _contents(paths, sources=None) -> tuple[list[str], np.ndarray]:
    sources = [None] * len(paths) if sources is None else list(sources)
    pairs = [content(p, s) for p, s in zip(paths, sources)]
    return [h for h, _ in pairs], (np.stack([t for _, t in pairs]) if pairs else np.zeros((0, THUMB_SIZE, THUMB_SIZE)))


def _unit(thumbs: np.ndarray) -> np.ndarray:
    x = thumbs.reshape(len(thumbs), -1).astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-12)


def _twins(eval_paths, eval_thumbs, other_paths, other_thumbs, threshold) -> tuple[int, str, float]:
    """How many evaluation images have a near-twin (r > threshold, another path) among the
    others; one example 'a ~ b' and its correlation."""
    if len(eval_paths) == 0 or len(other_paths) == 0:
        return 0, "", 0.0
    r = _unit(eval_thumbs) @ _unit(other_thumbs).T
    r[np.asarray(eval_paths)[:, None] == np.asarray(other_paths)[None, :]] = -1  # same file: another rule
    hit = r > threshold
    rows = np.flatnonzero(hit.any(axis=1))
    if len(rows) == 0:
        return 0, "", 0.0
    i = rows[np.argmax(r[rows].max(axis=1))]
    j = int(r[i].argmax())
    return len(rows), f"{eval_paths[i]} ~ {other_paths[j]}", float(r[i, j])


def _same_pixels(eval_paths, eval_hashes, other_paths, other_hashes) -> dict[str, str]:
    """{evaluation path: another path holding exactly the same pixels}."""
    where: dict = {}
    for p, h in zip(other_paths, other_hashes):
        where.setdefault(h, []).append(p)
    out = {}
    for p, h in zip(eval_paths, eval_hashes):
        q = next((q for q in where.get(h, []) if q != p), None)
        if q is not None:
            out[p] = q
    return out


# -- the guard ----------------------------------------------------------------------------------
def find_violations(eval_records: pd.DataFrame, train_records: pd.DataFrame | None = None,
                    manifests: list | tuple = (), all_records: pd.DataFrame | None = None,
                    dup_threshold: float = DEFAULT_THRESHOLD) -> list[Violation]:
    """Every rule the evaluation breaks (see module doc), in the order of RULES; raises
    ProtocolError only for an evaluation that cannot be checked at all (empty, no source)."""
    if len(eval_records) == 0:
        raise ProtocolError("The evaluation set is empty; check the split/fold you asked for.")
    if "source" not in eval_records.columns:
        raise ProtocolError("Evaluation records have no 'source' column, so they cannot be shown to be real. "
                            "Use the table from helpers.prepare.load_prepared(cfg).")
    out: list[Violation] = []

    def add(rule, items, message):
        if items:
            out.append(Violation(rule, len(items), str(sorted(items)[0]), message))

    synth = eval_records[eval_records["source"].astype(str) == "synthetic"]
    if len(synth):
        out.append(Violation("synthetic-in-test", len(synth), str(synth["path"].iloc[0]),
                             f"{len(synth)} synthetic image(s) are in the evaluation set (e.g. {synth['path'].iloc[0]}). "
                             "Test images must be real: put synthetic images in the training part only."))
    real_eval = eval_records[eval_records["source"].astype(str) != "synthetic"]
    eval_paths = _resolved(real_eval["path"])
    all_eval = set(_resolved(eval_records["path"]))
    for m in manifests:
        listed = (all_eval & set(_resolved(read_manifest(m)["path"]))) - set(_resolved(synth["path"]))
        add("manifest-in-test", listed, f"{len(listed)} evaluation image(s) are listed in the synthetic manifest {m} "
            f"(e.g. {sorted(listed)[0] if listed else ''}). Test images must be real.")
    if not eval_paths:
        return _ordered(out)
    eval_hashes, eval_thumbs = _contents(eval_paths, real_eval["source"].astype(str))
    for m in manifests:  # a near-copy (re-saved, brightened) of a test image listed as synthetic
        listed = _resolved(read_manifest(m)["path"])
        n, ex, r = _twins(eval_paths, eval_thumbs, listed, _contents(listed)[1], dup_threshold)
        if n:
            out.append(Violation("manifest-twin", n, ex, f"The synthetic manifest {m} lists near-copies of {n} "
                                 f"evaluation image(s) (thumbnail correlation > {dup_threshold}, e.g. {ex}, "
                                 f"r = {r:.3f}): test images would train as synthetic ones. Remove them from the "
                                 "set, or export it again from a generator trained on this fold's training part."))
    if train_records is not None and len(train_records):
        train_paths = _resolved(train_records["path"])
        both = set(eval_paths) & set(train_paths)
        add("same-path", both, f"{len(both)} image(s) are in both the training and the evaluation set "
            f"(e.g. {sorted(both)[0] if both else ''}). Rebuild the split with `python -m helpers prepare`.")
        real_train = train_records[train_records["source"].astype(str) != "synthetic"]
        if "group" in real_train and "group" in real_eval:
            shared = set(real_train["group"]) & set(real_eval["group"])
            add("same-group", shared, f"{len(shared)} near-duplicate group(s) have images in both training and "
                f"evaluation (e.g. group {sorted(shared)[0] if shared else ''}). Use the grouped split/folds "
                "from `python -m helpers prepare`.")
        train_hashes, _ = _contents(train_paths, train_records["source"].astype(str))
        copies = _same_pixels(eval_paths, eval_hashes, train_paths, train_hashes)
        if copies:
            ex = "{} = {}".format(*sorted(copies.items())[0])
            out.append(Violation("same-pixels", len(copies), ex, f"{len(copies)} evaluation image(s) have exactly the "
                                 f"pixels of a training image stored under another path (e.g. {ex}): a copy of a "
                                 "test image is in training."))
        rt_paths = _resolved(real_train["path"])
        n, ex, r = _twins(eval_paths, eval_thumbs, rt_paths, _contents(rt_paths, real_train["source"].astype(str))[1],
                          dup_threshold)
        if n:
            out.append(Violation("near-twin", n, ex, f"{n} evaluation image(s) have a near-duplicate in training "
                                 f"(thumbnail correlation > {dup_threshold}, e.g. {ex}, r = {r:.3f}). Group the "
                                 "records at this threshold and use grouped splits/folds."))
    table = all_records if all_records is not None else pd.concat(
        [plain(eval_records), plain(train_records) if train_records is not None else eval_records.iloc[:0]])
    group_of = dict(zip(_resolved(table["path"]), table["group"])) if "group" in table else {}
    source_of = dict(zip(_resolved(table["path"]), table["source"].astype(str))) if "source" in table else {}
    eval_groups = {group_of.get(p) for p in eval_paths} - {None}
    for m in manifests:
        seen = read_trained_on(m)
        seen_files = sorted(p for p in seen if os.path.exists(p))
        seen_hashes, seen_thumbs = _contents(seen_files, [source_of.get(p) for p in seen_files])
        leaked = (set(eval_paths) & seen) | set(_same_pixels(eval_paths, eval_hashes, seen_files, seen_hashes))
        if leaked:
            out.append(Violation("generator-saw-test", len(leaked), sorted(leaked)[0],
                                 f"The generator behind {m} was trained on {len(leaked)} evaluation image(s) "
                                 f"(e.g. {sorted(leaked)[0]}). Train the generator on this fold's training part only "
                                 "(helpers.generators.train_and_export(..., train_records=...))."))
        near = {group_of[p] for p in seen - set(eval_paths) if p in group_of} & eval_groups
        n_twin, ex, r = _twins(eval_paths, eval_thumbs, seen_files, seen_thumbs, dup_threshold)
        if near or n_twin:
            what = f"{len(near)} group(s), e.g. group {sorted(near)[0]}" if near else f"e.g. {ex}, r = {r:.3f}"
            out.append(Violation("generator-saw-twin", max(len(near), n_twin), str(sorted(near)[0]) if near else ex,
                                 f"The generator behind {m} was trained on near-duplicates of evaluation images "
                                 f"({what}). Train it on this fold's training part only."))
    return _ordered(out)


def _ordered(violations: list[Violation]) -> list[Violation]:
    return sorted(violations, key=lambda v: RULES.index(v.rule))


def _names(leak) -> list[str]:
    return [] if leak in (None, "", ()) else [leak] if isinstance(leak, str) else list(leak)


def leak_rules(leak) -> set[str]:
    """The rules a named shortcut (or several) may break; SettingError for an unknown name."""
    names = _names(leak)
    unknown = [n for n in names if n not in LEAKS]
    if unknown:
        raise SettingError(f"Unknown leak {unknown[0]!r}; the named shortcuts are {', '.join(LEAKS)}.")
    return {r for n in names for r in LEAKS[n]}


def check_evaluation(eval_records: pd.DataFrame, train_records: pd.DataFrame | None = None,
                     manifests: list | tuple = (), all_records: pd.DataFrame | None = None,
                     leak: str | tuple | None = None, dup_threshold: float = DEFAULT_THRESHOLD) -> list[Violation]:
    """Raise ProtocolError unless `eval_records` are real, unseen images (see module doc).

    train_records: what the classifier trains on (real and synthetic rows); manifests: the
    synthetic sets it uses; all_records: the full real record table, to map a generator's
    training images to near-duplicate groups (default: eval + train records).
    leak: a named shortcut of LEAKS (or several) run on purpose: its violations are returned
    instead of raised; any other violation still raises. Honest calls return []."""
    allowed = leak_rules(leak)
    found = find_violations(eval_records, train_records, manifests, all_records, dup_threshold)
    refused = [v for v in found if v.rule not in allowed]
    if refused:
        raise ProtocolError(refused[0].message + (f" (also: {', '.join(map(str, refused[1:]))})" if refused[1:] else ""))
    return found


def protocol_name(leak) -> str:
    """The label a result row carries: 'honest', or 'leaky:<name>[+<name>]'."""
    return "leaky:" + "+".join(_names(leak)) if _names(leak) else "honest"
