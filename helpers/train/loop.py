"""The bookkeeping every course training loop shares.

A loop written with `Trainer` only has to say what one *step* is (one generator step for
a GAN, with its critic steps inside; one optimizer step for a diffusion model). The
Trainer then gives it:

- resume: `run_dir/checkpoint.pt` is written atomically every `checkpoint_every` steps with the
  weights, optimizer states and random generators; on one device a resumed run ends with the
  same weights as an uninterrupted one (helpers.train.rng: what is bit-exact, and across devices);
- `run_dir/history.csv`: one row per step, cut back to the checkpoint on resume; tensor metrics
  are read back once every `log_every` steps (helpers.train.metrics): the step never waits;
- `run_dir/samples/step_XXXXXX.png`: grids from fixed noise every `sample_every` steps;
- a progress bar, and a clear stop when a metric becomes NaN/inf or explodes;
- with a `halfway_store`, the run's state at half its steps kept for an equal shorter run
  (helpers.train.halfway).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.errors import Interrupted, SettingError, TrainingDiverged
from helpers.parallel import STOP  # Ctrl-C or a failed run side by side: stop at the next step
from helpers.train import halfway
from helpers.train.checkpoint import atomic_save, load_checkpoint
from helpers.train.lock import run_lock
from helpers.train.metrics import has_tensors, to_floats
from helpers.train.rng import cuda_states, device_type, restore_cuda_states, restore_streams

CHECKPOINT = "checkpoint.pt"
HISTORY = "history.csv"
# Settings that may change between a run and its resumption (training for longer; another device).
RESUMABLE_CHANGES = {"steps", "total_steps", "sample_every", "checkpoint_every", "device", "layout", "compile"}
# Steps between two read-backs of tensor metrics (and NaN checks) when no checkpoint or grid is due.
LOG_EVERY = 25
STALL_STEPS = 10  # a watched metric at exactly 0 this many steps in a row: the GAN collapsed, stop


@dataclass
class History:
    """What a training run returns: the per-step metrics and where its files are."""

    run_dir: Path
    frame: pd.DataFrame = field(repr=False)
    resumed_from: int = 0

    @property
    def steps(self) -> int:
        return int(self.frame["step"].max()) if len(self.frame) else 0

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / CHECKPOINT

    def samples(self) -> list[Path]:
        return sorted((self.run_dir / "samples").glob("step_*.png"))


class Trainer:
    """Owns checkpoints, history, sample grids, the progress bar and the NaN guard.

    modules / optimizers: what to checkpoint, by name. generator: the torch.Generator the
    loop draws all its randomness from (batches, noise), so resuming restores it exactly;
    `generators`: other streams of its own, by name (e.g. dropout masks on the model's device),
    checkpointed the same way. global_rng: whether the loop also draws from torch's global
    generator (dropout of a model without a generator of its own); its state is then saved with
    each checkpoint, restored on resume and kept across sampling. A loop that draws only from
    its own generators passes False and never touches the global one, so it can train in a
    thread beside others (helpers.parallel).
    sample_fn(step) -> tensor (N, C, H, W) in [-1, 1] for the grid, or None; it should use
    fixed noise and leave the models as it found them (eval mode inside, train mode after).
    diverge_hint: the advice the NaN guard's message gives (it depends on the model).
    stall: {metric: what it means when exactly 0}: the collapse guard stops the run when one
    of these metrics is exactly 0 for STALL_STEPS steps in a row.
    log_every: the most steps whose tensor metrics wait to be read back and checked; the
    NaN and collapse guards see every step, before any checkpoint or grid is written.
    """

    def __init__(self, run_dir: str | Path, total_steps: int, modules: dict[str, nn.Module],
                 optimizers: dict[str, torch.optim.Optimizer], generator: torch.Generator,
                 checkpoint_every: int = 100, sample_every: int = 100, sample_fn: Callable | None = None,
                 config: dict | None = None, desc: str = "training", progress: bool = True,
                 explode_at: float = 1e6, nrow: int = 8, diverge_hint: str = "try a lower learning rate",
                 stall: dict[str, str] | None = None, generators: dict[str, torch.Generator] | None = None,
                 global_rng: bool = True, log_every: int = LOG_EVERY, halfway_store: Path | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.total_steps = int(total_steps)
        self.modules, self.optimizers, self.generator = modules, optimizers, generator
        self.generators, self.global_rng = dict(generators or {}), bool(global_rng)
        self.checkpoint_every = max(1, int(checkpoint_every))
        self.log_every = max(1, int(log_every))
        self.sample_every = max(1, int(sample_every))
        self.sample_fn, self.config, self.desc = sample_fn, dict(config or {}), desc
        self.progress, self.explode_at, self.nrow = progress, explode_at, nrow
        self.diverge_hint = diverge_hint  # what to try, in the words of the model being trained
        self.extra_state: dict = {}  # loops may keep small extra state here (saved with weights)
        self.stall, self._zero_run = dict(stall or {}), {}  # collapse guard: metric -> zero steps in a row
        self.saved_step = 0  # the step of the checkpoint on disk (0: none yet)
        self.store, self.half = halfway_store, (self.total_steps // 2 if halfway_store is not None else None)

    # -- checkpoints -------------------------------------------------------------------
    def state(self, step: int) -> dict:
        out = dict(step=step, config=self.config, rng=self.generator.get_state(), extra=self.extra_state,
                   modules={k: m.state_dict() for k, m in self.modules.items()},
                   optimizers={k: o.state_dict() for k, o in self.optimizers.items()},
                   rng_devices={"rng": device_type(self.generator),
                                **{k: device_type(g) for k, g in self.generators.items()}})
        if self.generators:
            out["rngs"] = {k: g.get_state() for k, g in self.generators.items()}
        if self.global_rng:
            out["torch_rng"] = torch.get_rng_state()
            if (states := cuda_states()) is not None:
                out["cuda_rng"] = states
        return out

    def save(self, step: int) -> None:
        atomic_save(self.state(step), self.run_dir / CHECKPOINT)
        self.saved_step = step

    def start_from_halfway(self) -> int:
        """An equal run's kept state copied in, when this run has none (helpers.train.halfway)."""
        fresh = not (self.run_dir / CHECKPOINT).exists()
        return halfway.restore(self.store, self.config, RESUMABLE_CHANGES, self.total_steps, self.run_dir) if fresh else 0

    def resume(self) -> int:
        """Load the checkpoint if there is one; returns the step to continue from. A damaged
        newest checkpoint falls back to the one written before it."""
        path = self.run_dir / CHECKPOINT
        if not path.exists():
            return 0
        ck, _ = load_checkpoint(path, fallback=True)
        old = {k: v for k, v in ck.get("config", {}).items() if k not in RESUMABLE_CHANGES}
        new = {k: v for k, v in self.config.items() if k not in RESUMABLE_CHANGES}
        if old != new:
            diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
            raise SettingError(f"{path} was written by a run with other settings ({', '.join(diff)}). "
                               "Use another run folder (--out-name NAME), or delete it to start over.")
        for k, m in self.modules.items():
            m.load_state_dict(ck["modules"][k])
        for k, o in self.optimizers.items():
            o.load_state_dict(ck["optimizers"][k])
        moved = restore_streams(ck, {"rng": self.generator, **self.generators}, self.global_rng)
        self.extra_state.update(ck.get("extra", {}))
        self.saved_step = int(ck["step"])
        if self.saved_step > self.total_steps:  # a shorter budget does not undo training: say so
            print(f"note: {path} holds {self.saved_step} steps, more than the {self.total_steps} asked; loaded as it is.")
        if moved and self.saved_step < self.total_steps:
            print(f"note: {path} was written on {moved}; going on from step {self.saved_step} here with its "
                  "random streams re-seeded from the checkpoint (deterministic, but not the numbers an "
                  "uninterrupted run would have drawn).")
        return self.saved_step

    # -- history -----------------------------------------------------------------------
    def _trim_history(self, step: int) -> None:
        """Keep only rows up to `step` (those after the checkpoint will be redone)."""
        path = self.run_dir / HISTORY
        if not path.exists():
            return
        df = pd.read_csv(path)
        df[df["step"] <= step].to_csv(path, index=False)

    def _append(self, rows: list[dict]) -> None:
        if not rows:
            return
        path = self.run_dir / HISTORY
        new = not path.exists() or path.stat().st_size == 0
        fields = list(rows[0].keys())
        if not new:
            with open(path) as f:
                fields = next(csv.reader(f))
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerows(rows)

    def history(self, resumed_from: int = 0) -> History:
        path = self.run_dir / HISTORY
        frame = pd.read_csv(path) if path.exists() else pd.DataFrame({"step": []})
        return History(self.run_dir, frame, resumed_from)

    # -- guard and samples -------------------------------------------------------------
    def _where_to_go_on(self) -> str:
        where = (f"The last checkpoint ({self.run_dir / CHECKPOINT}) is from step {self.saved_step}, "
                 "before this happened" if self.saved_step else f"No checkpoint was written yet in {self.run_dir}")
        return (f"{where}; to start over with other settings, delete {self.run_dir} or train under "
                "another --out-name.")

    def check(self, metrics: dict, step: int) -> None:
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and (not math.isfinite(v) or abs(v) > self.explode_at):
                raise TrainingDiverged(
                    f"{self.desc}: '{k}' = {v} at step {step}. Training diverged; {self.diverge_hint}. "
                    f"{self._where_to_go_on()}")
        for k, meaning in self.stall.items():
            if k not in metrics:
                continue
            self._zero_run[k] = self._zero_run.get(k, 0) + 1 if metrics[k] == 0 else 0
            if self._zero_run[k] >= STALL_STEPS:
                raise TrainingDiverged(
                    f"{self.desc} collapsed: '{k}' has been exactly 0 for {STALL_STEPS} steps in a row "
                    f"(steps {step - STALL_STEPS + 1}-{step}): {meaning}. Its images would be useless; "
                    f"{self.diverge_hint}. {self._where_to_go_on()}")

    def save_samples(self, step: int) -> None:
        if self.sample_fn is None:
            return
        from torchvision.utils import save_image

        # Sampling must not change the training run: keep its random streams untouched, so a
        # run that stopped (and sampled) at step k continues exactly like one that did not.
        g_state = self.generator.get_state()
        cpu_state = torch.get_rng_state() if self.global_rng else None
        gpu_states = cuda_states() if self.global_rng else None
        try:
            imgs = self.sample_fn(step)
        finally:
            self.generator.set_state(g_state)
            if cpu_state is not None:
                torch.set_rng_state(cpu_state)
            restore_cuda_states(gpu_states)
        if imgs is None:
            return
        out = self.run_dir / "samples"
        out.mkdir(exist_ok=True)
        save_image(imgs.float().cpu(), out / f"step_{step:06d}.png", nrow=self.nrow, normalize=True,
                   value_range=(-1, 1), pad_value=1.0)

    # -- the loop ----------------------------------------------------------------------
    def run(self, step_fn: Callable[[int], dict]) -> History:
        """Call `step_fn(step)` until `total_steps`; it returns a dict of floats to log.
        Only one process at a time may train in a run folder (the second is refused)."""
        with run_lock(self.run_dir):
            return self._run(step_fn)

    def _read_back(self, pending: list[dict], bar) -> list[dict]:
        """The pending rows as floats (one read-back from the device), each checked in order."""
        rows = to_floats(pending)
        for row in rows:
            self.check({k: v for k, v in row.items() if k != "step"}, row["step"])
        if rows:
            shown = [(k, v) for k, v in rows[-1].items() if k != "step"][:3]
            bar.set_postfix({k: f"{v:.3g}" if isinstance(v, float) else v for k, v in shown}, refresh=False)
        return rows

    def _run(self, step_fn: Callable[[int], dict]) -> History:
        self.start_from_halfway()
        start = self.resume()
        self._trim_history(start)
        if start == 0:
            self.save_samples(0)
        buffer: list[dict] = []   # rows read back, to append to the history at the next checkpoint
        pending: list[dict] = []  # rows whose tensors are still on the device
        bar = tqdm(total=self.total_steps, initial=start, desc=self.desc, unit="step", disable=not self.progress,
                   leave=False)
        step = start
        try:
            for step in range(start + 1, self.total_steps + 1):
                if STOP.is_set():
                    raise KeyboardInterrupt
                pending.append({"step": step, **step_fn(step)})
                bar.update(1)
                grid = step % self.sample_every == 0 or step == self.total_steps
                save = step % self.checkpoint_every == 0 or step in (self.total_steps, self.half)
                if grid or save or step % self.log_every == 0 or not has_tensors(pending[-1]):
                    buffer += self._read_back(pending, bar)  # before any grid or checkpoint is written
                    pending = []
                if grid:
                    self.save_samples(step)
                if save:
                    self._append(buffer)
                    buffer = []
                    self.save(step)
                    if step == self.half:
                        halfway.keep(self.store, self.config, RESUMABLE_CHANGES, step,
                                     [self.run_dir / CHECKPOINT, self.run_dir / HISTORY])
        except KeyboardInterrupt:
            saved = f"the last checkpoint is step {self.saved_step}" if self.saved_step else "no checkpoint yet"
            raise Interrupted(f"{self.desc}: interrupted at step {step} of {self.total_steps} ({saved}); run "
                              "the same command to resume.") from None
        finally:
            bar.close()
        return self.history(resumed_from=start)

