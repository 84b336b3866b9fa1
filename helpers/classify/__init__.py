"""Classifiers trained on real (+ traditional augmentation) (+ synthetic) images, the
experiment grid over architectures, data settings, folds and seeds, and honest metrics.

- `data`: fastai DataLoaders from the record table and synthetic manifests;
- `models`: the studies' architectures as fastai Learners (ImageNet weights when present);
- `metrics`: scikit-learn metrics with bootstrap confidence intervals, paired differences;
- `protocol`: the guard that keeps synthetic and generator-seen images out of evaluations;
- `grid`: the resumable experiment grid and its pooled tables;
- `published`: the studies' published numbers, to show beside ours.
"""
