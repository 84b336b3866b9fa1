"""Flow matching: notebook 06's class-conditional U-Net trained with another objective.

- `objective`: the straight path between noise and image, x_t = (1 - t) x_0 + t x_1, and its
  velocity x_1 - x_0 (the regression target), with the time the U-Net is given;
- `sampling`: the ODE dx/dt = v(x, t, y) integrated from noise (t = 0) to image (t = 1) with
  Euler or Heun steps, classifier-free guidance on the velocity;
- `steps`: the loss and the training step, notebook 06c's own (kept equal to its cells);
- `presets`: the per-profile settings (the U-Net's shape is the DDPM's of the same profile);
  `pipeline`: training on `helpers.train.loop.Trainer` with EMA weights, and the export of a
  synthetic set.
"""
