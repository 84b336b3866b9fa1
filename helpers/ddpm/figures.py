"""The figures of notebook 06: forward process, denoising trajectory, sampler table,
guidance sweep, per-class samples next to real images."""

from __future__ import annotations

import time

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from helpers.data.preprocess import to_nchw
from helpers.ddpm.diffusion import q_sample, sample
from helpers.plots import class_grid, show_image
from helpers.quality.swd import sliced_wasserstein, stats_distance

FLOOR_DRAWS = 20  # draws of n real images behind the sampler table's floor


def _img(ax, x, title=None):
    """One image in [-1, 1], (C, H, W) or (H, W): grey on a fixed scale, RGB as it is."""
    show_image(ax, torch.as_tensor(x).float().clamp(-1, 1))
    ax.set_xticks([]), ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)


def forward_process(images: torch.Tensor, sched, ts=(0, 50, 100, 200, 400, 600, 800, 999), seed: int = 0):
    """Rows: images; columns: x_t at the given steps, all from the same noise per image."""
    x0 = images[:, None] if images.ndim == 3 else images
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    fig, axes = plt.subplots(len(x0), len(ts), figsize=(1.3 * len(ts), 1.4 * len(x0)), squeeze=False)
    for j, t in enumerate(ts):
        xt = q_sample(x0, torch.full((len(x0),), t), noise, sched)
        for i in range(len(x0)):
            ab = float(sched.alpha_bar[t])
            _img(axes[i, j], xt[i], f"t={t}\nᾱ={ab:.3f}" if i == 0 else None)
    fig.suptitle("forward process q(x_t | x_0): signal fades, noise grows")
    fig.tight_layout()
    return fig


def forward_slider(images: torch.Tensor, sched, seed: int = 0):
    """A slider over t (ipywidgets, needs a live kernel); returns the widget. Nothing is drawn
    until the slider moves, so a headless run (papermill, tests) only creates the widget."""
    import ipywidgets as widgets

    x0 = images[:, None] if images.ndim == 3 else images
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    slider = widgets.IntSlider(value=0, min=0, max=sched.T - 1, step=10, description="t",
                               continuous_update=False)
    out = widgets.Output()

    def show(change):
        t = int(change["new"])
        xt = q_sample(x0, torch.full((len(x0),), t), noise, sched)
        with out:
            out.clear_output(wait=True)
            fig, axes = plt.subplots(1, len(x0), figsize=(1.8 * len(x0), 2), squeeze=False)
            for i in range(len(x0)):
                _img(axes[0, i], xt[i])
            fig.suptitle(f"t = {t}, alpha_bar = {float(sched.alpha_bar[t]):.4f}")
            plt.show()

    slider.observe(show, names="value")
    return widgets.VBox([slider, out])


def trajectory(trained, labels: list[int], seed: int = 0, method: str = "ddim", steps: int | None = None,
               n_cols: int = 8, guidance: float | None = None):
    """The reverse process for one sample per label: x_t (top) and the model's current
    estimate of x_0 (bottom) at n_cols steps from t = T-1 down to 0."""
    dev = next(trained.model.parameters()).device
    kept = []
    sample(trained.model, torch.tensor(labels, device=dev), trained.sched, trained.size, method=method,
           steps=steps or trained.preset.ddim_steps, eta=trained.preset.eta,
           guidance=trained.preset.guidance if guidance is None else guidance, objective=trained.preset.objective,
           generator=torch.Generator(device=dev).manual_seed(seed),
           callback=lambda t, x, x0: kept.append((t, x.cpu(), x0.cpu())))
    pick = np.unique(np.linspace(0, len(kept) - 1, n_cols).round().astype(int))
    fig, axes = plt.subplots(2 * len(labels), len(pick), figsize=(1.3 * len(pick), 2.7 * len(labels)),
                             squeeze=False)
    for j, k in enumerate(pick):
        t, x, x0 = kept[k]
        for i in range(len(labels)):
            _img(axes[2 * i, j], x[i], f"t={t}" if i == 0 else None)
            _img(axes[2 * i + 1, j], x0[i])
        axes[0, 0].set_ylabel("x_t", fontsize=9)
        axes[1, 0].set_ylabel("x0_hat", fontsize=9)
    fig.suptitle(f"{method.upper()} denoising trajectory (top: x_t, bottom: predicted x_0)")
    fig.tight_layout()
    return fig


def sampler_table(trained, real_images, configs: list[dict], n: int, label: int | None = None, seed: int = 0,
                  guidance: float = 1.0) -> pd.DataFrame:
    """Measure each sampler config (dict with method, steps, eta): seconds for n images,
    images per second, and two pixel-level distances of those n images to the real ones
    (labels cycle through the classes unless `label` is given): `stats_dist` (brightness,
    contrast, fine texture; see helpers.quality.swd) and the sliced Wasserstein distance.
    The last row, `real_floor`, is the floor at this sample size and its spread."""
    dev = next(trained.model.parameters()).device
    n_classes = trained.model.n_classes
    y = torch.arange(n, device=dev) % n_classes if label is None else torch.full((n,), label, device=dev)
    rows = []
    for c in configs:
        g = torch.Generator(device=dev).manual_seed(seed)
        t0 = time.perf_counter()
        x = sample(trained.model, y, trained.sched, trained.size, method=c["method"], steps=c.get("steps", 50),
                   eta=c.get("eta", 0.0), guidance=guidance, objective=trained.preset.objective, generator=g)
        if str(dev).startswith("cuda"):
            torch.cuda.synchronize()
        sec = time.perf_counter() - t0
        steps = trained.sched.T if c["method"] == "ddpm" else c.get("steps", 50)
        rows.append(dict(sampler=c["method"].upper(), steps=steps, eta=c.get("eta", 1.0 if c["method"] == "ddpm"
                                                                              else 0.0),
                         seconds=round(sec, 2), img_per_s=round(n / sec, 2),
                         stats_dist=round(stats_distance(x.cpu(), real_images), 3),
                         swd_to_real=round(sliced_wasserstein(x.cpu(), real_images, seed=seed), 4)))
    rows.append(dict(sampler="real vs real", steps=0, eta=np.nan, seconds=np.nan, img_per_s=np.nan,
                     **real_floor(real_images, n, seed=seed)))
    return pd.DataFrame(rows)


def real_floor(real_images, n: int, draws: int = FLOOR_DRAWS, seed: int = 0) -> dict:
    """The sampler table's two distances for n real images against the other real images, the
    same comparison a sampler's n images get: the mean over `draws` random draws (what a perfect
    sampler scores with n images) and its standard deviation (how far one draw of n moves by chance)."""
    real = np.asarray(real_images)
    rng = np.random.default_rng(seed)
    stats, swd = [], []
    for _ in range(draws):
        idx = rng.permutation(len(real))
        held, rest = real[idx[:n]], real[idx[n:]]
        stats.append(stats_distance(held, rest))
        swd.append(sliced_wasserstein(held, rest, seed=seed))
    return dict(stats_dist=round(float(np.mean(stats)), 3), swd_to_real=round(float(np.mean(swd)), 4),
                stats_sd=round(float(np.std(stats, ddof=1)), 3), swd_sd=round(float(np.std(swd, ddof=1)), 4))


def read_against_floor(table: pd.DataFrame, n: int, ddim_steps: int) -> list[str]:
    """The sampler table in words: per measure, which samplers lie within the floor's noise
    (at most its mean + 2 sd, where a real draw of n images rarely lands above) and which above
    it; and whether DDIM with eta 0 scores further from the real statistics than eta 1."""
    floor, rows = table.iloc[-1], table.iloc[:-1]
    lines = [f"floor: {n} real images against the other real ones, {FLOOR_DRAWS} draws: SWD {floor.swd_to_real:.4f} "
             f"± {floor.swd_sd:.4f}, stats_dist {floor.stats_dist:.3f} ± {floor.stats_sd:.3f} (mean ± sd)"]
    name = lambda r: f"{r.sampler} {r.steps} steps eta {r.eta:g}"  # noqa: E731
    for col, sd in [("swd_to_real", "swd_sd"), ("stats_dist", "stats_sd")]:
        top = floor[col] + 2 * floor[sd]
        within = [r for r in rows.itertuples() if getattr(r, col) <= top]
        above = [name(r) for r in rows.itertuples() if getattr(r, col) > top]
        parts = []
        if within:
            many, below = len(within) > 1, [name(r) for r in within if getattr(r, col) < floor[col]]
            parts.append(f"{', '.join(map(name, within))}: within the floor's noise (up to mean + 2 sd = {top:.3g}); "
                         f"with {n} images this measure cannot tell {'them' if many else 'it'} from real images"
                         + (" nor from each other" if many else "")
                         + (f" ({', '.join(below)} below the floor's mean: chance, not better than real)" if below else ""))
        if above:
            parts.append(f"{', '.join(above)}: above it, further from the real images than {n} real ones would be")
        lines.append(f"{col}: " + ". ".join(parts) + ".")
    ddim = rows[(rows.sampler == "DDIM") & (rows.steps == ddim_steps)].set_index("eta")["stats_dist"]
    if {0.0, 1.0} <= set(ddim.index):
        lines.append(f"DDIM at {ddim_steps} steps, stats_dist eta 0 vs eta 1: {ddim[0.0]:.3f} vs {ddim[1.0]:.3f}: " + (
            "eta 0 further from the real statistics, as leftover noise would make it."
            if ddim[0.0] - ddim[1.0] > 2 * floor.stats_sd else
            "within the floor's noise of each other, so this table does not separate them (look at the samples)."))
    return lines


def guidance_sweep(trained, class_names: list[str], scales=(0.0, 1.0, 2.0, 4.0), per_class: int = 2,
                   seed: int = 0, steps: int | None = None):
    """Rows: classes (per_class seeds each); columns: guidance scales, same noise along a row."""
    rows, titles = {}, []
    for label, name in enumerate(class_names):
        imgs = torch.stack([trained.generate(label, per_class, seed=seed + label, steps=steps, guidance=s)
                            for s in scales], 1)  # (per_class, n_scales, 1, H, W)
        for k in range(per_class):
            rows[f"{name} #{k + 1}"] = imgs[k]
            titles.append([f"s={s:g}" for s in scales])
    return class_grid(rows, title="classifier-free guidance: eps_u + s (eps_c - eps_u)", titles=titles)


def real_vs_generated(trained, real_by_class: dict, n: int = 6, seed: int = 0):
    """Per class: a row of real training images, then a row of generated ones."""
    rows = {}
    for label, (name, real) in enumerate(real_by_class.items()):
        rows[f"{name} real"] = real[:n]
        rows[f"{name} DDPM"] = trained.generate(label, n, seed=seed)
    return class_grid(rows, n=n, title="real training images and DDPM samples, per class")


def objective_name(preset) -> str:
    """What a preset trains, in words: the target the network predicts and how the loss is weighted."""
    what = {"eps": "noise-prediction MSE", "v": "v-prediction MSE"}[preset.objective]
    weights = ([f"Min-SNR-{preset.min_snr:g} weighted"] if preset.min_snr else []) + \
        (["class-weighted"] if preset.balance == "weights" else [])
    return ", ".join([what] + weights)


def loss_curve(history_frame: pd.DataFrame, preset, window: int = 25):
    """The training loss per step and its running mean, labelled with what the preset trains."""
    fig, ax = plt.subplots(figsize=(6, 3))
    f = history_frame
    ax.plot(f["step"], f["loss"], alpha=0.3, lw=0.8, label="loss per step")
    ax.plot(f["step"], f["loss"].rolling(window, min_periods=1).mean(), lw=1.8, label=f"mean of {window}")
    ax.set_xlabel("optimizer step"), ax.set_ylabel("loss"), ax.legend()
    ax.set_title(f"DDPM training loss: {objective_name(preset)}", fontsize=10)
    fig.tight_layout()
    return fig


@torch.no_grad()
def per_class_loss(trained, images, labels, class_names: list[str], repeats: int = 4, seed: int = 0,
                   batch: int = 64) -> pd.DataFrame:
    """The EMA model's error on its own target (the noise, or v) on the training images, per
    class, without the training's weights (the same t and noise draws for every model you
    compare, given the seed). A class the model learnt less well shows a higher value."""
    from helpers.ddpm.diffusion import target

    dev = next(trained.model.parameters()).device
    a = np.array(images)  # a copy: pandas/PIL arrays may be read-only
    if a.dtype == np.uint8:  # (N, H, W) grey or (N, H, W, 3) RGB
        x = to_nchw(a)
    else:
        x = torch.as_tensor(a, dtype=torch.float32)
        x = (x / 127.5 - 1 if x.max() > 1.5 else x)[:, None]
    y = torch.as_tensor(np.array(labels), dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    losses, labs = [], []
    for _ in range(repeats):
        for i in range(0, len(x), batch):
            xb, yb = x[i:i + batch], y[i:i + batch]
            t = torch.randint(0, trained.sched.T, (len(xb),), generator=g)
            noise = torch.randn(xb.shape, generator=g)
            xt = q_sample(xb, t, noise, trained.sched)
            out = trained.model(xt.to(dev), t.to(dev), yb.to(dev)).float().cpu()
            tgt = target(xb, noise, t, trained.sched, trained.preset.objective)
            losses.append((out - tgt).square().mean(dim=(1, 2, 3)))
            labs.append(yb)
    df = pd.DataFrame({"label": torch.cat(labs).numpy(), "loss": torch.cat(losses).numpy()})
    out = df.groupby("label")["loss"].agg(["mean", "sem", "count"]).reset_index()
    out.insert(0, "class", [class_names[i] for i in out["label"]])
    return out.drop(columns="label").rename(columns={"mean": "loss", "count": "draws"})
