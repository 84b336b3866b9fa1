"""A class-conditional denoising diffusion model (DDPM) the course can read end to end.

- `schedules`: the noise schedules (linear, Ho et al. 2020; cosine, Nichol & Dhariwal 2021);
- `unet`: the noise predictor, a compact U-Net with time and class embeddings;
- `diffusion`: the forward process `q_sample`, the training objective, classifier-free
  guidance and the samplers (DDPM ancestral, DDIM);
- `train`: the training loop (on `helpers.train.loop.Trainer`) with EMA weights;
- `presets`: the per-profile settings; `pipeline`: train + export a synthetic set;
- `figures`: the notebook's figures (pixel-level quality measures: helpers.quality.swd).
"""
