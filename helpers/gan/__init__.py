"""GANs for the course: WGAN (weight clipping), WGAN-GP, DCGAN and a class-conditional WGAN-GP.

- `nets`: generator / critic pairs for any power-of-two size from 32 to 256 px;
- `losses`: the Wasserstein and BCE games, the gradient penalty, weight clipping;
- `presets`: hyperparameters per profile (`paper` carries each study's own);
- `core`: what the training runs share (data, networks, optimizers, random draws, Trainer),
  and a trained generator loaded from its run folder, images drawn from it;
- `steps`: one training step of each GAN, the notebooks' own (kept equal to their cells);
- `pipeline`: one model's training (`train_run(kind, data, cfg, run_dir) -> History`), one
  model per class (or one conditional model), and the export of a balanced synthetic set;
  what `python -m helpers train <gan>` runs;
- `score`: a simple distance between synthetic and real images (sliced Wasserstein);
- `label_dependence`: how much a conditional generator's images depend on its label;
- `figures`: loss curves, sample grids, samples across training.
"""
