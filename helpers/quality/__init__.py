"""Synthetic-image quality: how good and how new is a generator's output?

- `features`: pluggable feature extractors (a small domain classifier trained on the real
  training images, Inception-v3 from a local weights file, random weights for tests), on the
  small CNN of `cnn`; `ssl` a second, self-supervised feature space;
- `metrics`: FID, KID, k-NN precision/recall, and the real-vs-real baseline protocol;
- `memorisation`: nearest real training image per synthetic image, threshold calibrated on
  held-out real images;
- `report`: train on synthetic, test on real (TSTR), and everything above for every synthetic
  set in one per-generator, per-class table;
- `swd`, `sampling`, `usefulness`: pixel-level measures for the generator notebooks, sets drawn
  for scoring, whether a score predicts a generator's usefulness;
Its independent jobs (trainings, numpy scoring) run side by side on a CPU (helpers.parallel).
"""

from helpers.quality.presets import PRESETS, preset

__all__ = ["PRESETS", "preset"]
