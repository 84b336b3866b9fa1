"""The phantom: deterministic, BUSI-like sizes, overlapping classes, planted duplicates and
overlays. Behaviour only: speed and the calibration against BUSI live in
benchmarks/phantom_calibration.py."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from helpers.data.duplicates import find_groups, thumbnails
from helpers.data.phantom import (
    CLASSES,
    DEFAULT_COUNTS,
    PHANTOM_VERSION,
    anatomy,
    lesions,
    make_phantom,
    overlays,
    scan,
    write_phantom_dataset,
)
from helpers.data.registry import load_records


def test_api_and_busi_counts():
    assert CLASSES == ("benign", "malignant", "normal")
    assert DEFAULT_COUNTS == {"benign": 437, "malignant": 210, "normal": 133}
    assert isinstance(PHANTOM_VERSION, int) and PHANTOM_VERSION >= 2
    with pytest.raises(ValueError, match="Unknown phantom class"):
        make_phantom("cyst", 0)


def test_deterministic_by_seed_and_index(tmp_path):
    """Same (seed, class, index): same pixels, whatever else is generated. (Counts: see
    tests/test_data_sources.py.)"""
    a = make_phantom("benign", 2, seed=3, size=96)
    write_phantom_dataset(tmp_path, {"benign": 3, "normal": 1, "malignant": 1}, seed=3, size=96, progress=False)
    on_disk = np.asarray(Image.open(tmp_path / "benign" / "benign (3).png"))
    assert np.array_equal(a.image, on_disk)
    assert np.array_equal(a.mask, np.asarray(Image.open(tmp_path / "benign" / "benign (3)_mask.png")))
    others = [make_phantom("benign", 2, seed=4, size=96), make_phantom("benign", 3, seed=3, size=96)]
    assert all(o.image.shape != a.image.shape or not np.array_equal(o.image, a.image) for o in others)


def test_sizes_vary_like_busi():
    """Widths spread around the nominal size (BUSI: ~190-1050 px at 512), aspect ratios vary."""
    sizes = np.array([scan.image_size(np.random.default_rng([0, i]), 512) for i in range(400)])
    w, h = sizes[:, 0], sizes[:, 1]
    assert w.min() < 300 and w.max() > 850 and 450 < w.mean() < 650
    assert np.ptp(h / w) > 0.5
    ph = make_phantom("benign", 3, size=512)
    assert ph.image.shape == scan.image_size(np.random.default_rng([0, scan.CLASS_SALT["benign"], 3, 0]), 512)[::-1]
    small = [make_phantom(k, i, size=64).image.shape for k in CLASSES for i in range(6)]
    assert min(min(s) for s in small) >= 32 and len(set(small)) > 5


def _descriptors(kind, n=600):
    return [lesions.describe(np.random.default_rng([7, i]), kind) for i in range(n)]


def test_bi_rads_descriptors_are_tendencies_not_rules():
    ben, mal = _descriptors("benign"), _descriptors("malignant")

    def share(ds, key, value):
        return np.mean([d[key] == value for d in ds])

    # The odds lean the textbook way ...
    assert share(ben, "shape", "oval") > share(mal, "shape", "oval") + 0.2
    assert share(mal, "shape", "irregular") > share(ben, "shape", "irregular") + 0.2
    assert share(mal, "posterior", "shadowing") > share(ben, "posterior", "shadowing") + 0.15
    assert share(ben, "parallel", True) > share(mal, "parallel", True) + 0.15
    assert np.median([d["size_mm"] for d in mal]) > np.median([d["size_mm"] for d in ben])
    # ... but every descriptor value occurs in both classes.
    for key, table in [("shape", lesions.SHAPE), ("margin", lesions.MARGIN), ("echo", lesions.ECHO),
                       ("posterior", lesions.POSTERIOR)]:
        for value in table["benign"]:
            assert share(ben, key, value) > 0 and share(mal, key, value) > 0, (key, value)
    for ds in (ben, mal):  # small masses and isoechoic ones, hard to see, in both classes
        assert np.mean([d["size_mm"] < 8 for d in ds]) > 0.04
        assert share(ds, "echo", "isoechoic") > 0.03


def test_masks_follow_the_lesion_and_most_are_darker_than_tissue():
    ratios, tall = [], {"benign": 0, "malignant": 0}
    for kind in ("benign", "malignant"):
        for i in range(12):
            ph = make_phantom(kind, i, size=128)
            m = ph.mask > 0
            assert m.any() and not m.all()
            ratios.append(ph.image[m].mean() / max(1, ph.image[~m & (ph.image > 0)].mean()))
            ys, xs = np.nonzero(m)
            tall[kind] += np.ptp(ys) > np.ptp(xs)
    assert np.median(ratios) < 0.8  # hypoechoic is the rule ...
    assert max(ratios) > 0.8  # ... with exceptions (isoechoic masses)
    assert make_phantom("normal", 0, size=64).mask.max() == 0


def test_normal_anatomy_has_lesion_mimics():
    """Ribs, large fat lobules and ligament shadows: dark things in scans without a mass."""
    notes = [anatomy.breast(np.random.default_rng([3, i]), 60, 60, 45.0).notes for i in range(60)]
    for mimic in ("rib", "fat_lobule", "ligament_shadow"):
        assert 0 < sum(mimic in n for n in notes) < 60


def test_calipers_are_correlated_with_class():
    assert overlays.CALIPERS["normal"] < 0.25 * min(overlays.CALIPERS["benign"], overlays.CALIPERS["malignant"])

    def bright(kind):  # share of images with near-white pixels (text, calipers)
        return np.mean([(make_phantom(kind, i, size=96).image >= 250).any() for i in range(40)])

    assert bright("benign") > bright("normal")


def test_frames_are_planted_as_near_duplicates(tmp_path):
    counts = {"benign": 24, "normal": 10, "malignant": 12}
    write_phantom_dataset(tmp_path, counts, size=96, progress=False)
    records = load_records("phantom", tmp_path, progress=False)
    records.attrs.clear()
    grouped, report = find_groups(records, thumbnails(records, progress=False), 0.97)
    planted = [(k, i) for k in CLASSES for i in range(counts[k]) if scan.original(k, i, 0) != (k, i)]
    assert planted and report.n_images_in_groups >= len(planted)
    group = {}
    for r in grouped.itertuples():
        name = r.path.rsplit("/", 1)[-1]
        group[(r.class_name, int(name.split("(")[1].split(")")[0]) - 1)] = r.group
    found = sum(group[p] == group.get(scan.original(*p, 0)) for p in planted if scan.original(*p, 0) in group)
    assert found >= 0.8 * len(planted)
    # Originals of different scans are not near-duplicates of each other.
    originals = [p for p in group if scan.original(*p, 0) == p]
    assert len({group[p] for p in originals}) == len(originals)


def test_some_frames_cross_classes_and_about_a_quarter_are_frames():
    frames = [(k, i) for k in CLASSES for i in range(DEFAULT_COUNTS[k]) if scan.frame_source(k, i, 0) != (k, i)]
    assert 0.15 < len(frames) / sum(DEFAULT_COUNTS.values()) < 0.35
    crossed = [f for f in frames if scan.frame_source(*f, 0)[0] != f[0]]
    assert 0 < len(crossed) < 0.15 * len(frames)
    assert all(scan.frame_source(*f, 0)[1] < DEFAULT_COUNTS[scan.frame_source(*f, 0)[0]] for f in crossed)
    assert all(scan.frame_source("normal", i, 0)[0] == "normal" for i in range(133))


def test_processes_write_the_same_files_as_one_process(tmp_path, monkeypatch):
    from helpers.parallel import processes

    counts = {"benign": 3, "normal": 2, "malignant": 2}
    write_phantom_dataset(tmp_path / "one", counts, size=32, progress=False, workers=1)
    monkeypatch.setattr(processes, "PARALLEL_FROM", 1)
    (tmp_path / "two" / "normal").mkdir(parents=True)
    kept = tmp_path / "two" / "normal" / "normal (1).png"
    write_phantom_dataset(tmp_path / "two", {"benign": 0, "normal": 1, "malignant": 0}, size=32, progress=False,
                          workers=1)
    before = kept.stat().st_mtime_ns
    write_phantom_dataset(tmp_path / "two", counts, size=32, progress=False, workers=2)
    one = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*.png"))
    two = sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*.png"))
    assert one == two and len(one) == 14
    assert all((tmp_path / "one" / p).read_bytes() == (tmp_path / "two" / p).read_bytes() for p in one)
    assert kept.stat().st_mtime_ns == before  # an image already there is kept, not drawn again


def test_throughput_benchmark_runs_and_checks_its_files(run_benchmark):
    code, out = run_benchmark("phantom_throughput", "--n", "6", "--profile", "smoke", "--workers", "2")
    assert code == 0
    assert "ratio" in out and "identical files: True" in out


def test_calibration_refuses_a_folder_of_real_images_and_leaves_it_as_it_is(run_benchmark, tmp_path):
    """The calibration writes its phantom only where the course may (helpers.data.phantom_folder):
    a folder of someone's images without the phantom's marker is refused, not emptied."""
    real = tmp_path / "scans"
    (real / "benign").mkdir(parents=True)
    Image.fromarray(np.full((8, 8), 7, np.uint8)).save(real / "benign" / "benign (1).png")
    code, _ = run_benchmark("phantom_calibration", "--data-dir", str(real), "--runs-dir", str(tmp_path / "runs"),
                            "--no-classifier", "--quiet")
    assert code == 2  # the one-line error goes to stderr, no traceback
    assert [p.name for p in real.rglob("*") if p.is_file()] == ["benign (1).png"]
    assert np.asarray(Image.open(real / "benign" / "benign (1).png")).max() == 7
