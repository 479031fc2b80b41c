"""The one training engine every trainer uses (:func:`fit`): epochs, validation and the
plateau schedule, early stopping, best-state keeping, checkpoint and resume, stop on
request, progress. A trainer supplies its step and its validation metric."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator, Sequence

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


class Plateau:
    """The paper's schedule: ReduceLROnPlateau on a validation score (higher is better, an
    absolute ``tolerance``), counting the reductions that end training."""

    def __init__(self, optimizer, factor: float, patience: int, tolerance: float):
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=factor, patience=patience, threshold=tolerance, threshold_mode="abs"
        )
        self.optimizer, self.decays = optimizer, 0

    def step(self, score: float) -> None:
        before = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step(score)
        if self.optimizer.param_groups[0]["lr"] < before:
            self.decays += 1

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict(), "decays": self.decays}

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self.decays = int(state["decays"])


@dataclasses.dataclass
class Fitted:
    """What :func:`fit` hands back to its trainer."""

    history: list[dict]  # one record per epoch run (this run and the resumed part)
    best_score: float  # the best validation score seen (-inf if no epoch ran)
    best_state: dict | None  # the weights (CPU) at that score
    lr_decays: int
    max_epochs: int
    max_lr_decays: int
    resumed_from_epoch: int
    seconds: float  # training time of this run (s)

    def summary(self, metric: str) -> dict:
        """The output fields every trainer reports."""
        return {
            "metric": metric,
            "max_epochs": self.max_epochs,
            "epochs_run": len(self.history),
            "lr_decays": self.lr_decays,
            "stop_reason": stop_reason(len(self.history), self.max_epochs, self.lr_decays, self.max_lr_decays),
            "resumed_from_epoch": self.resumed_from_epoch,
            "history": self.history,
            "train_seconds_this_run": round(self.seconds, 3),
        }


def fit(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    seed: int,
    checkpoint: Checkpointer | None,
    *,
    run_epoch: Callable[[int, torch.Generator], tuple[float, int]],
    validate: Callable[[torch.nn.Module], tuple[float, dict]],
    desc: str,
    max_epochs: int,
    lr_decay_factor: float,
    patience: int,
    tolerance: float,
    max_lr_decays: int,
    frozen: Sequence[torch.nn.Module] = (),
    on_epoch: Callable[[int], None] | None = None,
) -> Fitted:
    """The one training engine: epochs, validation and the plateau schedule, early stopping,
    best-state keeping, checkpoint and resume, stop on request (SIGTERM) and progress.

    A trainer supplies only its step and its metric: ``run_epoch(epoch, generator)`` runs one
    epoch of optimiser steps with the epoch's seeded generator and returns (summed loss,
    batches); ``validate(model)`` returns (the score the schedule and the choice of weights
    use, the epoch's extra history fields). ``frozen`` modules stay in eval mode (their
    batch norm keeps its statistics); ``on_epoch(epoch)`` runs before each epoch.
    """
    plateau = Plateau(optimizer, lr_decay_factor, patience, tolerance)
    loop = ResumableLoop(checkpoint, max_epochs, desc=desc)
    history, best_score, best_state = [], -math.inf, None
    if loop.resumed is not None:
        model.load_state_dict(loop.resumed["model"])
        optimizer.load_state_dict(loop.resumed["optimizer"])
        # a checkpoint of the neural trainer from before this engine kept the schedule at the top level
        plateau.load_state_dict(loop.resumed["plateau"] if "plateau" in loop.resumed else
                                {"scheduler": loop.resumed["scheduler"], "decays": loop.resumed["decays"]})
        history, best_score, best_state = list(loop.resumed["history"]), float(loop.resumed["best_score"]), loop.resumed["best_state"]
        loop.restore_rng()

    t0 = time.monotonic()
    for epoch in loop:
        model.train()
        for module in frozen:
            module.eval()
        generator = epoch_generator(seed, epoch)
        if on_epoch is not None:
            on_epoch(epoch)
        total, batches = run_epoch(epoch, generator)
        score, record = validate(model)
        lr_now = optimizer.param_groups[0]["lr"]
        plateau.step(score)
        if score > best_score:
            best_score, best_state = score, {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        history.append({"epoch": epoch + 1, "train_loss": total / max(batches, 1), **record, "lr": lr_now})
        done = plateau.decays >= max_lr_decays
        loop.end_epoch(
            epoch + 1,
            lambda: {"history": history, "best_score": best_score, "best_state": best_state, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "plateau": plateau.state_dict()},
            done=done,
            loss=f"{history[-1]['train_loss']:.3f}",
            val=f"{score:.3f}",
        )
        if done:
            break
    loop.close()
    return Fitted(history, best_score, best_state, plateau.decays, int(max_epochs), int(max_lr_decays), loop.start_epoch,
                  time.monotonic() - t0)
