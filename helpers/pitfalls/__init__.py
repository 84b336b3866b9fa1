"""Notebook 09: how much each protocol shortcut inflates a reported accuracy.

The same classifier, on the same budget, under paired protocols (one honest, one with a
named shortcut that the guard `helpers.classify.protocol.check_evaluation` lets through and
reports):

- `presets`: per-profile budgets (network, epochs, folds, repeats, seeds) and which
  published study used each shortcut;
- `splits`: fold assignments: random, grouped at a near-duplicate threshold, repeated;
- `runs`: one guarded, cached training run (the classifier engine's) scored under one or
  more evaluation views;
- `overlays`: text and caliper masks, inpainting, the masked copy of a dataset;
- `saliency`: Grad-CAM and the share of it that falls on overlays;
- `tables`: pooled accuracies, paired inflations with bootstrap CIs, the closing table and
  the conclusions written from it;
- `experiments`: the five measurements, shared by the notebook and `python -m helpers pitfalls`;
- `figures`: the notebook's figures, and all of them written to files for the command;
- `synthetic_in_test`: notebook 06b's DDPM study, scored on real test images and under its own
  protocol (synthetic images in the test set), with the same models.
"""
