"""A classifier run that resumes exactly (`fit_predict(..., resume=True)`).

After each finished epoch `EpochCheckpoint` appends the epoch's row to history.csv; every
`every` epochs, and after the last, it writes checkpoint.pth atomically (`helpers.train.checkpoint.atomic_save`, the one before it kept as
checkpoint.pth.prev): the weights, the optimizer, the number of epochs done (the one-cycle
schedule's position: fastai's `start_epoch` skips to it), the running training loss and every
random stream: torch's (and CUDA's), numpy's, Python's and each DataLoader's own, which draws
its shuffling. fastai skips the finished epochs without drawing their data, so the streams are
restored just before epoch `done + 1` trains: it draws exactly what an uninterrupted run draws,
and the run ends with the same predictions. checkpoint.json ({"epochs_done": n}) says how far
a run has got. An interrupted run goes on from its last checkpoint: the epochs logged after
it are trained again, drawing what they drew the first time. `checkpoint_interval` says how
often: every epoch on a CPU (an epoch is slow, a small model cheap to save), every GPU_EVERY
epochs on a GPU, where an epoch of a large model takes seconds and its checkpoint (weights and
Adam's two averages: about 1.6 GB for VGG16-bn) takes longer to write.

A checkpoint cut short (a kill, a full disk) is not fatal: the run goes on from the one before
it, or from the start, and says so in one line. A file torch refuses to read (not written by
the course) is refused in one line. A checkpoint that cannot be written stops the run with one
line; the same command then goes on from the last one written.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from helpers.classify import fastai_quiet  # noqa: F401  (before fastai, whose import warns)

# isort: split
from fastai.callback.core import Callback, CancelFitException
from fastai.torch_core import to_device
from fastcore.foundation import L

from helpers.errors import CheckpointError
from helpers.train.checkpoint import ForeignCheckpoint, atomic_save, previous, read_checkpoint

CHECKPOINT, STATE = "checkpoint.pth", "checkpoint.json"
GPU_EVERY = 5


def checkpoint_interval(every: int | None, device) -> int:
    """Epochs between checkpoints: `every`, or by default 1 on a CPU and GPU_EVERY elsewhere."""
    if every is not None:
        return max(1, int(every))
    return 1 if str(device) == "cpu" else GPU_EVERY


def _plain(x):
    """Numbers, tensors, lists and dicts only (what torch's weights-only reader accepts): fastai
    keeps the optimizer's hyper-parameters in an `L`, some as numpy scalars, and losses as
    its own tensor type."""
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, L)):
        return (tuple if isinstance(x, tuple) else list)(_plain(v) for v in x)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(x)
    if isinstance(x, torch.Tensor) and type(x) is not torch.Tensor:  # fastai's TensorBase
        return x.as_subclass(torch.Tensor)
    return x.item() if isinstance(x, np.generic) else x


def rng_state(learn) -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    out = dict(python=random.getstate(), torch=torch.get_rng_state(),
               numpy=(name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(gauss)),
               loaders=[dl.rng.getstate() for dl in learn.dls.loaders])
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def set_rng_state(learn, state: dict) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    for dl, s in zip(learn.dls.loaders, state["loaders"]):
        dl.rng.setstate(s)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class EpochCheckpoint(Callback):
    """history.csv and checkpoint.pth after each epoch, and the resumption from them.
    `config`: what the run was trained with; a checkpoint of other settings is not resumed.
    `every`: epochs between checkpoints (the last epoch is always saved)."""

    order = 60  # after the Recorder has written the epoch's log

    def __init__(self, run_dir, config: dict, every: int = 1):
        self.run_dir, self.config, self.every = Path(run_dir), config, max(1, int(every))
        self.path, self.history = self.run_dir / CHECKPOINT, self.run_dir / "history.csv"
        self.start, self.saved, self.restore, self.failure = 0, 0, None, None

    # -- resuming ----------------------------------------------------------------------
    def _load(self) -> dict | None:
        """The newest readable checkpoint of this run, or None (with one line saying why)."""
        if not self.path.exists():
            return None
        try:
            return read_checkpoint(self.path)
        except ForeignCheckpoint as e:
            raise CheckpointError(f"The classifier checkpoint {e}. Delete {self.path} and run the same "
                                  "command again to train this run from the start.") from None
        except CheckpointError:
            pass
        prev, ck = previous(self.path), None
        try:
            ck = read_checkpoint(prev) if prev.exists() else None
        except CheckpointError:
            pass
        where = f"going on from {prev.name} (epoch {ck['epochs_done']})" if ck else "training this run from the start"
        print(f"warning: the classifier checkpoint {self.path} is damaged (empty or cut short, e.g. by a kill or "
              f"a full disk); {where}.")
        return ck

    def resume(self, learn) -> int:
        """Load the last finished epoch into `learn` (weights and optimizer now, the random
        streams just before the next epoch trains); returns the number of epochs done."""
        ck = self._load()
        if ck is not None and ck.get("config") != self.config:
            print(f"warning: the classifier checkpoint {self.path} was written with other settings; "
                  "training this run from the start.")
            ck = None
        if ck is None:
            self.history.unlink(missing_ok=True)
            return 0
        learn.model.load_state_dict(ck["model"])
        if learn.opt is None:
            learn.create_opt()
        opt = to_device(ck["opt"], learn.dls.device)
        learn.opt.load_state_dict(dict(opt, hypers=L(opt["hypers"])))
        self.start, self.restore = int(ck["epochs_done"]), ck
        self.saved = self.start
        if self.history.exists():  # drop epochs logged after the checkpoint
            h = pd.read_csv(self.history)
            h[h["epoch"] <= self.start].to_csv(self.history, index=False)
        return self.start

    def before_train(self):
        if self.restore is not None and self.epoch == self.start:
            set_rng_state(self.learn, self.restore["rng"])
            smooth = self.learn.recorder.smooth_loss
            smooth.val, smooth.count = self.restore["smooth_loss"], self.restore["smooth_count"]
            self.restore = None

    # -- saving ------------------------------------------------------------------------
    def after_epoch(self):
        if self.epoch < self.start:  # an epoch fastai skips when resuming
            return
        rec = self.learn.recorder
        names = [n.replace(" ", "_") for n in rec.metric_names[1:-1]]  # epoch, ..., time
        vals = dict(zip(names, rec.log[1:len(names) + 1]))
        row = dict(epoch=self.epoch + 1, **{k: float(v) if v is not None else np.nan for k, v in vals.items()})
        done = self.epoch + 1
        save = done % self.every == 0 or done >= self.n_epoch
        try:
            pd.DataFrame([row]).to_csv(self.history, mode="a", header=not self.history.exists(), index=False)
            if save:
                atomic_save(dict(epochs_done=done, config=self.config, model=self.learn.model.state_dict(),
                                 opt=_plain(self.learn.opt.state_dict()), rng=rng_state(self.learn),
                                 smooth_loss=_plain(rec.smooth_loss.val), smooth_count=rec.smooth_loss.count),
                            self.path)
                tmp = self.run_dir / f".{STATE}.part"
                tmp.write_text(json.dumps({"epochs_done": done}))
                tmp.replace(self.run_dir / STATE)
                self.saved = done
        except (OSError, RuntimeError) as e:  # a full disk, a file-size limit
            # torch's own message ("enforce fail at inline_container.cc") tells a user nothing
            reason = getattr(e, "strerror", None) or "the file was cut short while writing"
            where = f"after epoch {self.saved}" if self.saved else "from the start"
            self.failure = CheckpointError(
                f"Could not write the classifier checkpoint {self.path} ({reason}): the disk is full or a "
                f"file-size limit (ulimit -f) was reached. Free some space and run the same command again: it goes on {where}.")
            raise CancelFitException from None  # fastai would add lines to the message of any other error

    def finish(self) -> None:
        """Raise the error of a checkpoint that could not be written, if any."""
        if self.failure is not None:
            raise self.failure

    def remove(self) -> None:
        """The run predicted: its checkpoints are no longer needed."""
        for p in (self.path, previous(self.path), self.run_dir / STATE):
            p.unlink(missing_ok=True)
