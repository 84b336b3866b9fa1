"""Overlay masking, images per second: `masked_dataset` (one spawned process per core, as
notebook 09 runs it) against the plain loop (mask, paint out and write each image, one after
another), in one run, on quick-profile phantoms drawn first into a temporary folder.

    python benchmarks/overlay_masking.py              # 120 phantoms (512 px nominal)
    python benchmarks/overlay_masking.py --n 780      # the whole quick set

Both write the same files (checked); the ratio ours / reference is printed (higher is better).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from PIL import Image

from helpers.config import PROFILE_DATA
from helpers.data.images import load_gray
from helpers.data.phantom import DEFAULT_COUNTS, write_phantom_dataset
from helpers.pitfalls import overlays


def reference(records: pd.DataFrame, out: Path) -> None:
    for i, r in enumerate(records.itertuples()):
        img, _ = overlays.masked(load_gray(r.path))
        dest = out / r.class_name / f"{i:05d}_{Path(r.path).stem}.png"
        dest.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(dest, compress_level=1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=120, help="phantom images (split like BUSI's classes)")
    p.add_argument("--profile", default="quick", help="nominal image size from this profile")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        counts = {k: max(1, round(args.n * v / sum(DEFAULT_COUNTS.values()))) for k, v in DEFAULT_COUNTS.items()}
        write_phantom_dataset(tmp / "src", counts, size=PROFILE_DATA[args.profile].phantom_size,
                              masks=False, progress=False)
        paths = sorted(p for p in (tmp / "src").rglob("*.png"))
        records = pd.DataFrame(dict(path=[str(p) for p in paths], class_name=[p.parent.name for p in paths]))
        t0 = time.perf_counter()
        reference(records, tmp / "ref")
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        out = overlays.masked_dataset(records, tmp / "ours", progress=False)
        t_ours = time.perf_counter() - t0
        same = all((tmp / "ref" / Path(q).relative_to((tmp / "ours").resolve())).read_bytes() == Path(q).read_bytes()
                   for q in out["path"])
    n = len(records)
    print(f"{n} images: reference {n / t_ref:.1f} img/s ({t_ref:.1f} s), ours {n / t_ours:.1f} img/s "
          f"({t_ours:.1f} s); ratio {t_ref / t_ours:.2f}; identical files: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
