"""What a GAN recipe draws, measured: one generator trained with preset changes, then scored.

The small-data toolkit (DiffAugment, budget, EMA, class-conditional batch norm) is kept in a
preset only where this script shows it helps. For one configuration it trains every model
(per class, or the conditional one) on the prepared training split and prints one JSON line:

- CPU-seconds and wall seconds of the training (run it on an idle machine: CPU time under
  contention counts the threads' waiting too);
- the probe's label accuracy (`helpers.gan.label_dependence`: a classifier of the real images'
  classes asked which class each sample shows) and its accuracy on held-out real images;
- FID, KID, precision and recall on the course's domain features (notebook 07's extractor),
  for all classes together and per class (`mean_fid`), against the real training images;
- the samples' spread against the real images' (`helpers.gan.collapse`; `min_spread`).

It also saves a grid (real and synthetic rows per class) beside the runs folder's figures.

    OMP_NUM_THREADS=1 python benchmarks/gan_recipes.py dcgan dcgan-800 --set steps=800
    OMP_NUM_THREADS=1 python benchmarks/gan_recipes.py cwgan cwgan-cn --set cond_norm=true

Data: the quick phantom (generated and prepared under --runs-dir when missing). Each
configuration keeps its run folder (`RUNS/generators/<name>`), so a rerun only scores it.
"""

from __future__ import annotations

import argparse
import json
import time

import matplotlib
import numpy as np

matplotlib.use("Agg")

import helpers  # noqa: E402
from helpers.data.preprocess import load_images  # noqa: E402
from helpers.gan import collapse, pipeline  # noqa: E402
from helpers.gan.label_dependence import LabelProbe  # noqa: E402
from helpers.plots import class_grid, savefig  # noqa: E402
from helpers.prepare import load_prepared  # noqa: E402
from helpers.presets import parse_text  # noqa: E402
from helpers.quality.features import get_extractor  # noqa: E402
from helpers.quality.metrics import score_pair  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("kind", choices=("wgan", "wgan-gp", "dcgan", "cwgan"))
    ap.add_argument("name", help="the run's name (its folder under RUNS/generators)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a preset change")
    ap.add_argument("--data-dir", default=None, help="the phantom's folder (default: data/phantom)")
    ap.add_argument("--runs-dir", default="runs/gan-recipes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=160, help="samples per class to score")
    a = ap.parse_args()
    changes = {k: parse_text(v) for k, v in (s.split("=", 1) for s in a.set)}
    cfg = helpers.setup("quick", "phantom", a.data_dir, a.runs_dir, a.seed, verbose=False)
    records = load_prepared(cfg, progress=False, verbose=False)  # the phantom made and prepared when missing
    train = records[records["split"] == "train"].reset_index(drop=True)
    held = records[records["split"] != "train"].reset_index(drop=True)

    t0, c0 = time.perf_counter(), time.process_time()
    pipeline.train(a.kind, cfg, train, out_name=a.name, progress=False, **changes)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0

    real = load_images(train, cfg.size, cfg.cache_dir, progress=False)
    labels = train["label"].to_numpy()
    classes = [c for c in cfg.classes if (train["class_name"] == c).any()]
    fake = pipeline.samples(a.kind, cfg, n=a.n, seed=a.seed + 1, out_name=a.name, classes=classes)
    fx = np.concatenate([fake[c] for c in classes])
    fy = np.concatenate([np.full(len(fake[c]), cfg.classes.index(c)) for c in classes])
    probe = LabelProbe.fit(real, labels, n_classes=len(cfg.classes))
    ext = get_extractor(cfg, records, progress=False)
    fr, ff = ext(real), ext(fx)
    per = {}
    for c in classes:
        i = cfg.classes.index(c)
        s = score_pair(fr[labels == i], ff[fy == i], kid_subsets=50)
        per[c] = {k: round(float(v), 3) for k, v in s.items()} | {
            "spread": round(collapse.spread(fake[c], real[labels == i]), 3)}
    out = {"kind": a.kind, "name": a.name, "changes": {k: str(v) for k, v in changes.items()},
           "cpu_s": round(cpu, 1), "wall_s": round(wall, 1),
           "label_accuracy": round(probe.accuracy(fx, fy), 3),
           "probe_on_heldout_real": round(probe.accuracy(load_images(held, cfg.size, cfg.cache_dir, progress=False),
                                                          held["label"].to_numpy()), 3),
           **{k: round(float(v), 3) for k, v in score_pair(fr, ff, kid_subsets=50).items()},
           "mean_fid": round(float(np.mean([per[c]["fid"] for c in classes])), 3),
           "min_spread": min(per[c]["spread"] for c in classes), "per_class": per}
    print(json.dumps(out))
    rows = {}
    for c in classes:
        rows[f"real {c}"] = real[labels == cfg.classes.index(c)][:8]
        rows[f"{a.name} {c}"] = fake[c][:8]
    fig = class_grid(rows, n=8, title=f"{a.kind} {a.name}: label accuracy {out['label_accuracy']:.2f}, "
                                      f"FID {out['fid']:.2f}, {cpu:.0f} CPU-s")
    savefig(fig, cfg, f"gan_recipe_{a.name}")


if __name__ == "__main__":
    main()
