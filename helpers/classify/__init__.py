"""Classifiers trained on real (+ traditional augmentation) (+ synthetic) images, the
experiment grid over architectures, data settings, folds and seeds, and honest metrics.

`engine` trains one classifier (the grid's runs, notebook 09's protocols, notebook 06b's DDPM
study); `grid` runs the grid and tables it; `comparison` sets up, runs and tabulates the
studies' grid in one call (notebook 08, `classify`); `studies` and `published` put each study
beside its own generator and its published numbers; `protocol` keeps synthetic and seen
images out of every evaluation; `bootstrap` and `metrics` give every interval.
"""
