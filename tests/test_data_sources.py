"""Readers, phantom determinism and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers.data import DataError, load_records
from helpers.data.images import CorruptImageError, is_mask, load_gray
from helpers.data.phantom import make_phantom, write_phantom_dataset


def _write(path, size=(40, 30), rgb=True, value=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(abs(hash(path.name)) % 2**32)
    a = rng.integers(0, 255, (size[1], size[0]), dtype=np.uint8) if value is None else np.full(size[::-1], value, np.uint8)
    img = Image.fromarray(a, "L")
    (img.convert("RGB") if rgb else img).save(path)


def make_official(root, n=3):
    """BUSI official layout: varied sizes, RGB-stored gray, masks beside images."""
    base = root / "Dataset_BUSI_with_GT"
    for cls in ("benign", "malignant", "normal"):
        for i in range(1, n + 1):
            _write(base / cls / f"{cls} ({i}).png", size=(60 + 13 * i, 45 + 7 * i))
            _write(base / cls / f"{cls} ({i})_mask.png", size=(60 + 13 * i, 45 + 7 * i), rgb=False, value=255)
        _write(base / cls / f"{cls} (1)_mask_1.png", size=(73, 52), rgb=False, value=0)
    return base


def make_resized(root, n=3):
    for cls in ("benign", "malignant", "normal"):
        for i in range(1, n + 1):
            _write(root / cls / f"{cls} ({i}).png", size=(64, 64))
    return root


def test_mask_names():
    assert is_mask("benign (1)_mask.png") and is_mask("x/benign (3)_mask_2.png")
    assert not is_mask("benign (1).png") and not is_mask("masking (2).png")


def test_official_layout_reads_images_not_masks(tmp_path):
    make_official(tmp_path)
    df = load_records("busi", tmp_path, progress=False)  # the wrapper folder is found
    assert len(df) == 9
    assert not df["path"].str.contains("_mask").any()
    assert set(df["class_name"]) == {"benign", "malignant", "normal"}
    assert df.loc[df.class_name == "benign", "label"].eq(0).all()
    assert df.loc[df.class_name == "malignant", "label"].eq(2).all()
    assert df["width"].nunique() > 1  # varied sizes were read
    assert int(df.loc[df.path.str.endswith("benign (1).png"), "n_masks"].iloc[0]) == 2
    assert load_gray(df.path[0], 32).shape == (32, 32)


def test_resized_layout(tmp_path):
    make_resized(tmp_path)
    df = load_records("busi", tmp_path, progress=False)
    assert len(df) == 9 and (df["width"] == 64).all()
    # natural order: "(2)" before "(10)"
    _write(tmp_path / "benign" / "benign (10).png", size=(64, 64))
    names = [p.split("/")[-1] for p in load_records("busi", tmp_path, progress=False).path[:4]]
    assert names == ["benign (1).png", "benign (2).png", "benign (3).png", "benign (10).png"]


def test_corrupt_file_is_named_and_can_be_skipped(tmp_path):
    make_resized(tmp_path)
    bad = tmp_path / "normal" / "normal (2).png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(CorruptImageError, match=r"normal \(2\)\.png.*skip"):
        load_records("busi", tmp_path, progress=False)
    df = load_records("busi", tmp_path, skip_bad=True, progress=False)
    assert len(df) == 8 and df.attrs["skipped"] == [str(bad)]


def test_empty_class_folder(tmp_path):
    make_resized(tmp_path)
    for p in (tmp_path / "normal").iterdir():
        p.unlink()
    with pytest.raises(DataError, match=r"normal.*no images"):
        load_records("busi", tmp_path, progress=False)


def test_mask_only_folder(tmp_path):
    make_official(tmp_path)
    folder = tmp_path / "Dataset_BUSI_with_GT" / "malignant"
    for p in folder.glob("*).png"):
        p.unlink()
    with pytest.raises(DataError, match=r"malignant.*mask files.*no images"):
        load_records("busi", tmp_path, progress=False)


def test_missing_folder_and_missing_class(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*data_download.py busi"):
        load_records("busi", tmp_path / "nowhere", progress=False)
    make_resized(tmp_path)
    import shutil

    shutil.rmtree(tmp_path / "normal")
    with pytest.raises(DataError, match=r"normal is missing"):
        load_records("busi", tmp_path, progress=False)


def test_phantom_is_deterministic_and_class_specific():
    a = make_phantom("malignant", 5, seed=0, size=64)
    b = make_phantom("malignant", 5, seed=0, size=64)
    c = make_phantom("malignant", 5, seed=1, size=64)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.image.shape != c.image.shape or not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.uint8 and a.mask.shape == a.image.shape and min(a.image.shape) >= 32
    assert make_phantom("normal", 0, size=64).mask.max() == 0
    for kind in ("benign", "malignant"):  # a lesion class always has a mass, and its mask
        for i in range(3):
            m = make_phantom(kind, i, size=64).mask
            assert m.max() == 255 and 0 < (m > 0).mean() < 0.5


def test_phantom_images_do_not_depend_on_counts(tmp_path):
    write_phantom_dataset(tmp_path / "a", {"benign": 3, "normal": 2, "malignant": 2}, size=32, progress=False)
    write_phantom_dataset(tmp_path / "b", {"benign": 5, "normal": 2, "malignant": 2}, size=32, progress=False)
    for i in range(1, 4):
        pa = tmp_path / "a" / "benign" / f"benign ({i}).png"
        pb = tmp_path / "b" / "benign" / f"benign ({i}).png"
        assert np.array_equal(np.asarray(Image.open(pa)), np.asarray(Image.open(pb)))
    df = load_records("phantom", tmp_path / "b", progress=False)
    assert df["class_name"].value_counts().to_dict() == {"benign": 5, "normal": 2, "malignant": 2}
