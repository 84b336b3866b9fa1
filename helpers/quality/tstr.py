"""Train on synthetic, test on real (TSTR): does a generator's output teach a classifier
anything that holds on real images?

A small CNN (the same SmallCNN as the feature extractor) is trained on a synthetic set alone
and tested on the real *test* split, which no generator has seen. The same classifier
trained on the real training images (TRTR) is the reference: a TSTR accuracy close to it
means the synthetic images carry the class information of the real ones. Runs are cached
and resumable under `RUNS/quality/tstr/<key>/`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.quality.cnn import CNNExtractor
from helpers.quality.features import prepare_domain_classifier


def key(images: np.ndarray, labels: np.ndarray, **settings) -> str:
    """A short hash of the training data and settings: another set gets another run folder."""
    h = hashlib.sha1(repr(sorted(settings.items())).encode())
    h.update(np.ascontiguousarray(images).tobytes())
    h.update(np.asarray(labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:12]


def prepare_train_test(train_images: np.ndarray, train_labels, test_images: np.ndarray, test_labels,
                       run_root: str | Path, steps: int, n_classes: int, classes: dict, width: int = 16,
                       dim: int = 64, batch: int = 32, seed: int = 0, device: str = "cpu", progress: bool = True,
                       desc: str = "tstr") -> Callable[[], pd.DataFrame]:
    """A classifier on (train_images, train_labels), built here, not trained yet (see
    helpers.quality.features.prepare_domain_classifier): the call that trains it and tests it on
    the real test images. That returns one row per class (its recall on the real test images)
    and 'all' (accuracy, and balanced accuracy)."""
    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    run_dir = Path(run_root) / key(train_images, train_labels, steps=None, schedule="cosine", width=width,
                                   dim=dim, batch=batch, seed=seed, n_classes=n_classes)
    train = prepare_domain_classifier(train_images, train_labels, run_dir, steps, width=width, dim=dim, batch=batch,
                                      n_classes=n_classes, seed=seed, device=device, progress=progress, desc=desc)
    return lambda: _test(train(), test_images, test_labels, classes, device)


def _test(model, test_images: np.ndarray, test_labels: np.ndarray, classes: dict, device: str) -> pd.DataFrame:
    pred = CNNExtractor(model, device).predict(test_images)
    rows, recalls = [], []
    for lab, name in classes.items():
        m = test_labels == lab
        rec = float((pred[m] == lab).mean()) if m.any() else np.nan
        recalls.append(rec)
        rows.append(dict(class_name=name, tstr=rec, n_test=int(m.sum())))
    rows.append(dict(class_name="all", tstr=float((pred == test_labels).mean()), n_test=len(test_labels),
                     tstr_balanced=float(np.nanmean(recalls))))
    return pd.DataFrame(rows)
