"""Training loops. They share one shape, `train_X(data, cfg, run_dir) -> History`, and one
set of guarantees, provided by `helpers.train.loop.Trainer`: resumable from `run_dir`,
history CSV, fixed-noise sample grids, a progress bar and a NaN/divergence guard."""
