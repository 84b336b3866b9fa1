"""GANs for the course: WGAN (weight clipping), WGAN-GP, DCGAN and a class-conditional WGAN-GP.

- `nets`: generator / critic pairs for any power-of-two size from 32 to 256 px;
- `losses`: the Wasserstein and BCE games, the gradient penalty, weight clipping;
- `presets`: hyperparameters per profile (`paper` carries each study's own);
- `wgan`, `dcgan`, `cwgan`: the training loops, all `train_*(data, cfg, run_dir) -> History`;
- `sampling`: load a trained generator from its run folder, draw images;
- `pipeline`: train one model per class (or one conditional model) and export a balanced
  synthetic set; what `python -m helpers train <gan>` runs;
- `score`: a simple distance between synthetic and real images (sliced Wasserstein);
- `label_dependence`: how much a conditional generator's images depend on its label;
- `figures`: loss curves, sample grids, samples across training.
"""
