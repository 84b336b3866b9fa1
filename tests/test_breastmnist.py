"""BreastMNIST: a fabricated npz served locally with its MD5, unpacked to class folders."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd
import pytest
from _local_http import LocalServer
from PIL import Image

from helpers.data import DataError, load_records
from helpers.data import breastmnist as bm
from helpers.data.download import ChecksumError
from helpers.data.extract import MARKER

SPLIT_N = {"train": 7, "val": 3, "test": 4}


def make_npz(size=28, channel_axis=False, seed=0, n=SPLIT_N) -> bytes:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, k in n.items():
        x = rng.integers(0, 256, (k, size, size), dtype=np.uint8)
        arrays[f"{split}_images"] = x[..., None] if channel_axis else x
        arrays[f"{split}_labels"] = (np.arange(k) % 3 != 0).astype(np.uint8)[:, None]  # MedMNIST: (N, 1)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


@pytest.fixture
def served(monkeypatch):
    """A server holding fabricated npz files for 28 and 64 px, and MedMNIST's table pointing at it."""
    with LocalServer() as s:
        table = {}
        for size in (28, 64):
            data = make_npz(size, channel_axis=size == 64, seed=size)
            s.files[f"/{bm.npz_name(size)}"] = data
            table[size] = (s.url(f"/{bm.npz_name(size)}") + "?download=1", hashlib.md5(data).hexdigest())
        monkeypatch.setattr(bm, "FILES", table)
        yield s


def test_files_table_is_medmnist_v3():
    assert sorted(bm.FILES) == [28, 64, 128, 224]
    for size, (url, md5) in bm.FILES.items():
        assert url.startswith("https://zenodo.org/records/10519652/files/") and bm.npz_name(size) in url
        assert len(md5) == 32 and int(md5, 16) >= 0


@pytest.mark.parametrize("size", [28, 64])
def test_fetch_unpacks_classes_and_official_split(served, tmp_path, size):
    dest = tmp_path / "bm"
    info = bm.fetch_breastmnist(dest, size=size, progress=False)
    with np.load(dest / bm.npz_name(size)) as z:
        labels = {s: z[f"{s}_labels"].reshape(-1) for s in SPLIT_N}
        images = {s: z[f"{s}_images"].reshape(-1, size, size) for s in SPLIT_N}
    n_benign = sum(int((y == 1).sum()) for y in labels.values())
    df = load_records("breastmnist", dest, progress=False)
    assert df["class_name"].value_counts().to_dict() == {"benign": n_benign, "malignant": 14 - n_benign}
    assert info["classes"] == {"malignant": 14 - n_benign, "benign": n_benign}
    splits = pd.read_csv(dest / "splits.csv")
    assert splits["split"].value_counts().to_dict() == SPLIT_N
    for row in splits.itertuples():  # each PNG holds its npz image, in the right class folder
        y = labels[row.split][row.index]
        assert row.medmnist_label == y and row.class_name == ("benign" if y == 1 else "malignant")
        png = np.asarray(Image.open(dest / row.path))
        assert png.shape == (size, size) and np.array_equal(png, images[row.split][row.index])
    assert sorted(df["path"].map(lambda p: p.split(str(dest) + "/")[1])) == sorted(splits["path"])
    assert "WARNING: the split sizes differ" in info["report"]  # 7/3/4 is not 546/78/156


def test_rerun_skips_and_other_size_needs_other_dest(served, tmp_path, capsys):
    dest = tmp_path / "bm"
    bm.fetch_breastmnist(dest, size=28, progress=False)
    n = len(served.requests)
    bm.fetch_breastmnist(dest, size=28, progress=False)
    assert len(served.requests) == n and "already complete" in capsys.readouterr().out
    with pytest.raises(DataError, match="already holds BreastMNIST at 28 px"):
        bm.fetch_breastmnist(dest, size=64, progress=False)


def test_md5_mismatch_keeps_nothing(served, tmp_path, monkeypatch):
    url, md5 = bm.FILES[28]
    monkeypatch.setitem(bm.FILES, 28, (url, "1" * 32))
    dest = tmp_path / "bm"
    with pytest.raises(ChecksumError, match=f"expected {'1' * 32}, got {md5}"):
        bm.fetch_breastmnist(dest, size=28, progress=False)
    assert sorted(p.name for p in dest.iterdir()) == []


def test_from_local_npz_checks_md5(served, tmp_path):
    npz = tmp_path / "mine.npz"
    npz.write_bytes(served.files["/breastmnist.npz"])
    bm.fetch_breastmnist(tmp_path / "a", size=28, from_path=npz, progress=False)
    assert served.requests == [] and (tmp_path / "a" / MARKER).exists()
    npz.write_bytes(make_npz(28, seed=99))
    with pytest.raises(ChecksumError, match="mine.npz.*--md5 ''"):
        bm.fetch_breastmnist(tmp_path / "b", size=28, from_path=npz, progress=False)
    bm.fetch_breastmnist(tmp_path / "c", size=28, from_path=npz, md5="", progress=False)  # check off


def test_wrong_size_or_structure_is_named(tmp_path):
    npz = tmp_path / "x.npz"
    npz.write_bytes(make_npz(28))
    with pytest.raises(DataError, match="holds 28x28 images, not 64x64"):
        bm.unpack_npz(npz, tmp_path / "out", size=64, progress=False)
    np.savez(npz, train_images=np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="lacks 'train_labels'"):
        bm.read_npz(npz)
    npz.write_bytes(b"not an npz")
    with pytest.raises(DataError, match="x.npz"):
        bm.read_npz(npz)


def test_interrupted_unpacking_is_redone(tmp_path):
    npz = tmp_path / "x.npz"
    npz.write_bytes(make_npz(28))
    dest = tmp_path / "out"
    # What a run stopped between moving the class folders into place leaves behind:
    (dest / "benign").mkdir(parents=True)
    (dest / "benign" / "train_0000.png").write_bytes(b"half")
    (dest / bm.UNPACKING).write_text("")
    bm.unpack_npz(npz, dest, progress=False)
    assert (dest / MARKER).exists() and not (dest / bm.UNPACKING).exists()
    assert len(load_records("breastmnist", dest, progress=False)) == 14


def test_foreign_class_folders_are_not_overwritten(tmp_path):
    npz = tmp_path / "x.npz"
    npz.write_bytes(make_npz(28))
    (tmp_path / "out" / "malignant").mkdir(parents=True)
    with pytest.raises(DataError, match="did not finish"):
        bm.unpack_npz(npz, tmp_path / "out", progress=False)
