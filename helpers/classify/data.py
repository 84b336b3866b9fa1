"""fastai DataLoaders for the classifiers, built from the record table.

Training rows: the real training part of a split/fold plus synthetic images read through
their manifests (never a folder listing), augmented (`helpers.data.augment`); evaluation rows:
the held-out real part, never augmented. Images are loaded once as uint8 arrays (grey
(N, H, W), or RGB (N, H, W, 3) for BreakHis; cached). A pretrained backbone expects 3
ImageNet-normalised channels: a grey image is copied into them, an RGB image keeps its own,
and each is normalised with ImageNet's mean and std, after augmentation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from helpers.data.augment import BatchAugment, normalize_batch, policy
from helpers.data.preprocess import imagenet_normalize, load_images, records_channels
from helpers.synth import read_manifest

TRAIN_COLUMNS = ["path", "label", "class_name", "group", "source"]


class GrayImages(Dataset):
    """(image, label) pairs: uint8 (N, H, W) grey or (N, H, W, 3) RGB -> float (3, H, W)
    ImageNet-normalised. (The name is historical: RGB images pass through unchanged.)"""

    def __init__(self, images: np.ndarray, labels, augment=None, device="cpu", batch_augment: BatchAugment | None = None):
        rgb = images.ndim == 4 and images.shape[-1] == 3
        if images.dtype != np.uint8 or not (images.ndim == 3 or rgb):
            raise ValueError(f"expected uint8 (N, H, W) or (N, H, W, 3) images, got {images.dtype} {images.shape}")
        self.images = torch.from_numpy(np.ascontiguousarray(images))
        self.labels = torch.tensor(np.array(labels, dtype=np.int64))
        self.augment = augment
        # Without augmentation the normalised tensor is the same every epoch: compute it once.
        self._fixed = None if augment is not None else torch.from_numpy(imagenet_normalize(images))
        # On a GPU a fixed set lives on the device and batches are cut there: no per-batch copy
        # from pageable host memory, which would make the host wait for the GPU every batch.
        self.on_device = self._fixed is not None and str(device).startswith("cuda")
        if self.on_device:
            self._fixed, self.labels = self._fixed.to(device), self.labels.to(device)
        # Batched augmentation (helpers.data.augment.BatchAugment): the uint8 images live on the
        # device, each batch is augmented and normalised there
        self.batch_augment = batch_augment if augment is not None else None
        if self.batch_augment is not None:
            chw = self.images[:, None] if self.images.ndim == 3 else self.images.permute(0, 3, 1, 2)
            self._stored, self.labels = chw.contiguous().to(device), self.labels.to(device)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        if self._fixed is not None:
            return self._fixed[i], self.labels[i]
        img = self.images[i]
        x = self.augment(img[None] if img.ndim == 2 else img.permute(2, 0, 1))  # (C, H, W) uint8, dtype kept
        x = x.numpy() if len(x) == 1 else x.permute(1, 2, 0)[None].numpy()  # grey (1, H, W), RGB (1, H, W, 3)
        return torch.from_numpy(imagenet_normalize(x))[0], self.labels[i]

    def batch(self, idx: torch.Tensor):
        """A whole batch at once: one indexing of the stored tensor instead of one call per image
        (and no collate) when nothing random happens per image."""
        if self._fixed is not None:
            if self.on_device:  # the indices travel from pinned memory, without waiting
                idx = idx.pin_memory().to(self._fixed.device, non_blocking=True)
            return self._fixed[idx], self.labels[idx]
        if self.batch_augment is not None:
            if self._stored.is_cuda:
                idx = idx.pin_memory().to(self._stored.device, non_blocking=True)
            return normalize_batch(self.batch_augment(self._stored[idx])), self.labels[idx]
        items = [self[int(i)] for i in idx]
        return torch.stack([a for a, _ in items]), torch.stack([b for _, b in items])


def _indexed_dl(ds: GrayImages, bs: int, shuffle: bool, drop_last: bool, device):
    """A fastai DataLoader whose batches are `ds.batch(indices)`."""
    from helpers.classify import fastai_quiet  # noqa: F401  (before fastai, whose import warns)

    # isort: split
    from fastai.data.load import DataLoader

    class IndexedDL(DataLoader):
        def create_item(self, s):
            return s

        def create_batch(self, b):
            x, y = self.dataset.batch(torch.as_tensor(b))
            return x.contiguous(memory_format=torch.channels_last), y  # as the model's weights

    return IndexedDL(ds, bs=bs, shuffle=shuffle, drop_last=drop_last, num_workers=0, device=device)


def plain(df: pd.DataFrame) -> pd.DataFrame:
    """A copy without `attrs` (a freshly prepared table carries its duplicate report there,
    which pandas cannot compare when concatenating)."""
    out = df.copy()
    out.attrs = {}
    return out


def synthetic_rows(manifest, per_class: int | None = None, classes: list[str] | None = None) -> pd.DataFrame:
    """A manifest as training rows (source='synthetic', group = -1 - index so synthetic images
    never share a real group). per_class: keep the first n of each class (None: all)."""
    df = read_manifest(manifest)
    if classes is not None:
        df = df[df["class_name"].isin(classes)]
    if per_class is not None:
        df = df.sort_values(["class_name", "index"]).groupby("class_name", sort=False).head(int(per_class))
    df = df.reset_index(drop=True)
    df["group"] = -1 - np.arange(len(df))
    return df[TRAIN_COLUMNS + ["generator"]]


def training_table(train_records: pd.DataFrame, manifests=(), per_class: int | None = None) -> pd.DataFrame:
    """Real training rows followed by the rows of each synthetic manifest."""
    parts = [plain(train_records).assign(generator="")[TRAIN_COLUMNS + ["generator"]]]
    classes = sorted(train_records["class_name"].unique())
    for m in manifests:
        parts.append(synthetic_rows(m, per_class, classes))
    return pd.concat(parts, ignore_index=True)


def load_table(table: pd.DataFrame, size: int, cache_dir=None, progress: bool = False) -> np.ndarray:
    """uint8 images of a table that may mix real and synthetic rows (each source cached apart),
    all with the channels of the table's first real source (RGB for BreakHis, else grey)."""
    src = table["source"].astype(str).to_numpy()
    real = table[src != "synthetic"]
    channels = records_channels(real if len(real) else table)
    out = np.empty((len(table), size, size) + ((3,) if channels == 3 else ()), dtype=np.uint8)
    for s in pd.unique(src):
        idx = np.flatnonzero(src == s)
        out[idx] = load_images(table.iloc[idx], size, cache_dir, progress=progress, channels=channels)
    return out


def class_weights(labels, n_classes: int) -> torch.Tensor:
    """'balanced' weights n / (k * n_c) (the DDPM study's choice), 0 for absent classes."""
    counts = np.bincount(np.asarray(labels, dtype=int), minlength=n_classes).astype(np.float64)
    w = np.where(counts > 0, counts.sum() / (n_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def make_dataloaders(train_table: pd.DataFrame, eval_records: pd.DataFrame, size: int, augment: str = "none",
                     bs: int = 32, cache_dir=None, device: str = "cpu", seed: int = 0, progress: bool = False,
                     images: tuple | None = None, batched_augment: bool = True):
    """fastai DataLoaders: train (shuffled, augmented) and valid (the real held-out images).
    `images` = (train, eval) uint8 arrays when already loaded (benchmarks). `batched_augment`:
    augment whole batches on the device (the default, on a CPU too: 1.6x the images per second
    of the tiny network's augmented training, benchmarks/classifier_throughput.py), or each
    image apart (False: torchvision's per-image transforms, the batched version's reference)."""
    from helpers.classify import fastai_quiet  # noqa: F401  (before fastai, whose import warns)

    # isort: split
    from fastai.data.core import DataLoaders

    if images is None:
        x_tr = load_table(train_table, size, cache_dir, progress)
        x_ev = load_table(eval_records, size, cache_dir, progress)
    else:
        x_tr, x_ev = images
    aug = None if augment in (None, "none") else policy(augment)
    batch_aug = BatchAugment(augment) if aug is not None and batched_augment else None
    train_ds = GrayImages(x_tr, train_table["label"].to_numpy(), aug, device, batch_aug)
    eval_ds = GrayImages(x_ev, eval_records["label"].to_numpy(), None, device)
    torch.manual_seed(seed)
    bs = max(2, min(bs, len(train_ds)))
    # evaluation needs no gradients: a larger batch costs no more memory per image and fewer launches
    val_bs = bs * 4 if str(device).startswith("cuda") else bs
    dev = torch.device(device)
    return DataLoaders(_indexed_dl(train_ds, bs, True, len(train_ds) > bs, dev),
                       _indexed_dl(eval_ds, val_bs, False, False, dev), device=dev)
