"""Epoch bookkeeping shared by every trainer: resume, checkpoint, stop on request, progress."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from ..progress import progress_bar

from .checkpoint import Checkpointer, MemoryCheckpointer, TrainingInterrupted


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The random stream of one epoch: a resumed run draws exactly what an uninterrupted one would."""
    return torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))


def rng_states() -> dict:
    """Every random stream training may draw from: torch (CPU and each CUDA device), numpy's
    global generator and Python's ``random``, as tensors and plain values (a checkpoint is
    loaded with ``weights_only``, which refuses numpy objects)."""
    import random

    import numpy as np

    name, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy_rng": {"name": str(name), "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python_rng": {"version": int(version), "internal": list(internal), "gauss": gauss},
    }


def restore_rng_states(state: dict) -> None:
    import random

    import numpy as np

    torch.set_rng_state(state["torch_rng"])
    if state.get("cuda_rng") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    if "numpy_rng" in state:
        n = state["numpy_rng"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    if "python_rng" in state:
        p = state["python_rng"]
        random.setstate((p["version"], tuple(p["internal"]), p["gauss"]))


def stop_reason(epochs_run: int, max_epochs: int, lr_decays: int, max_lr_decays: int) -> str:
    """Why training ended: the plateau rule ran its course, or the epoch budget ran out first
    (the model may still have been improving; the demo and the report say so)."""
    if lr_decays >= max_lr_decays:
        return f"plateau: {lr_decays} lr reductions after {epochs_run} epochs"
    return f"epoch budget: {epochs_run} of {max_epochs} epochs with {lr_decays} of {max_lr_decays} lr reductions"


class ResumableLoop:
    """Iterate over epochs from the last checkpoint; save and stop as the checkpointer says.

    ``resumed`` is the saved state dict (or None); the trainer restores its objects from it.
    After each epoch the trainer calls :meth:`end_epoch` with a function that returns its
    state; the state is only built when a save is due.
    """

    def __init__(self, checkpoint: Checkpointer | None, max_epochs: int, desc: str):
        self.checkpoint = checkpoint or MemoryCheckpointer(every_epochs=None, every_minutes=math.inf)
        self.max_epochs = int(max_epochs)
        self.resumed = self.checkpoint.load()
        self.start_epoch = int(self.resumed["epoch"]) if self.resumed else 0
        self.progress = progress_bar(desc=desc, unit="epoch", initial=self.start_epoch, total=self.max_epochs, leave=False)

    def __iter__(self) -> Iterator[int]:
        yield from range(self.start_epoch, self.max_epochs)

    def end_epoch(self, finished: int, state: Callable[[], dict], done: bool = False, **postfix) -> None:
        """Record epoch ``finished`` (1-based); ``done`` says training ends here (no checkpoint needed)."""
        self.progress.set_postfix(refresh=False, **postfix)
        self.progress.update(1)
        stop = self.checkpoint.stop_requested()
        if done or finished >= self.max_epochs:
            return
        if stop or self.checkpoint.due(finished):
            self.checkpoint.save(finished, {"epoch": finished, **rng_states(), **state()})
            if stop:
                self.close()
                raise TrainingInterrupted(finished)

    def restore_rng(self) -> None:
        if self.resumed is not None:
            restore_rng_states(self.resumed)

    def close(self) -> None:
        self.progress.close()
