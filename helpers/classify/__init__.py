"""Classifiers trained on real (+ traditional augmentation) (+ synthetic) images, the
experiment grid over architectures, data settings, folds and seeds, and honest metrics.

- `data`: fastai DataLoaders from the record table and synthetic manifests;
- `models`: the studies' architectures as fastai Learners (ImageNet weights when present);
- `engine`: one classifier training (fit, predict, keep), used by the grid, notebook 09's
  protocols and notebook 06b's DDPM study;
- `bootstrap`: the group (cluster) bootstrap of every interval, and what an interval says;
- `metrics`: scikit-learn metrics with bootstrap confidence intervals, paired differences;
- `protocol`: the guard that keeps synthetic and generator-seen images out of evaluations;
- `settings`: data settings, folds and run ids; `synthetic`: the per-fold synthetic sets;
- `grid_run`: one run of the grid; `store`: results.csv; `grid`: the resumable grid;
- `analysis`: pooled and paired tables of a finished grid; `conclusions`: what they can show;
- `studies`, `published`: each study beside its own generator and its published numbers;
- `comparison`: the studies' grid set up, run and tabulated in one call (notebook 08, `classify`);
- `plan`: what a grid will cost, before it runs; `figures`: notebook 08's figure of every generator.
"""
