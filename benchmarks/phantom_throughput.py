"""Phantom images per second: `write_phantom_dataset` (one spawned process per core) against
the plain loop (make_phantom and two PNG writes per image, one after another), in one run.

    python benchmarks/phantom_throughput.py                 # 120 quick-profile images (512 px nominal)
    python benchmarks/phantom_throughput.py --n 780         # the whole quick set

Both write the same files (checked); the ratio ours / reference is printed (higher is better).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from PIL import Image

from helpers.config import PROFILE_DATA
from helpers.data.phantom import CLASSES, DEFAULT_COUNTS, make_phantom, write_phantom_dataset


def counts_for(n: int) -> dict:
    """n images split like BUSI's classes."""
    total = sum(DEFAULT_COUNTS.values())
    return {k: max(1, round(n * v / total)) for k, v in DEFAULT_COUNTS.items()}


def reference(dest: Path, counts: dict, size: int) -> None:
    for kind in CLASSES:
        (dest / kind).mkdir(parents=True, exist_ok=True)
        for i in range(counts[kind]):
            ph = make_phantom(kind, i, seed=0, size=size)
            Image.fromarray(ph.image, mode="L").save(dest / kind / f"{kind} ({i + 1}).png", compress_level=1)
            Image.fromarray(ph.mask, mode="L").save(dest / kind / f"{kind} ({i + 1})_mask.png", compress_level=1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=120, help="images (split like BUSI's classes)")
    p.add_argument("--profile", default="quick", help="nominal image size from this profile")
    p.add_argument("--workers", type=int, default=None, help="processes for ours (default: one per core)")
    args = p.parse_args(argv)
    counts, size = counts_for(args.n), PROFILE_DATA[args.profile].phantom_size
    n = sum(counts.values())
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        reference(Path(tmp) / "ref", counts, size)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        write_phantom_dataset(Path(tmp) / "ours", counts, seed=0, size=size, progress=False, workers=args.workers)
        t_ours = time.perf_counter() - t0
        same = all((Path(tmp) / "ref" / p.relative_to(Path(tmp) / "ours")).read_bytes() == p.read_bytes()
                   for p in (Path(tmp) / "ours").rglob("*.png"))
    print(f"{n} images at nominal {size} px: reference {n / t_ref:.1f} img/s ({t_ref:.1f} s), "
          f"ours {n / t_ours:.1f} img/s ({t_ours:.1f} s); ratio {t_ref / t_ours:.2f}; identical files: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
