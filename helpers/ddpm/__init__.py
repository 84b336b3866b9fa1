"""A class-conditional denoising diffusion model (DDPM) the course can read end to end.

- `unet`: the noise predictor, a compact U-Net with time and class embeddings;
- `diffusion`: the noise schedules (linear, Ho et al. 2020; cosine, Nichol & Dhariwal 2021),
  the forward process `q_sample`, the training objective, classifier-free guidance and the
  samplers (DDPM ancestral, DDIM);
- `steps`: the training step and objective, notebook 06's own (kept equal to its cells);
- `presets`: the per-profile settings; `pipeline`: the training (on `helpers.train.loop.Trainer`,
  with EMA weights) and the export of a synthetic set;
- `figures`: the notebook's figures (pixel-level quality measures: helpers.quality.swd).
"""
