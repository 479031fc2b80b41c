"""Checkpointing policy, kept apart from where checkpoints are kept.

A trainer asks its checkpointer three things: is there a state to resume from, is a save
due now, and has the process been asked to stop. The database layer supplies a
checkpointer that writes to the object store; tests and direct calls use the in-memory or
directory ones here. The trainer never knows which.
"""

from __future__ import annotations

import abc
import io
import time
from collections.abc import Callable
from pathlib import Path

import torch


class TrainingInterrupted(Exception):
    """Training stopped on request after saving a checkpoint; running it again resumes."""

    def __init__(self, epoch: int):
        super().__init__(f"stopped on request after saving the checkpoint of epoch {epoch}")
        self.epoch = epoch


def serialise(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def deserialise(data: bytes) -> dict:
    # weights_only: a checkpoint is data, never code
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class CheckpointMismatch(RuntimeError):
    """A checkpoint saved for another configuration or code version: it is not resumed."""


class Checkpointer(abc.ABC):
    """Saves every ``every_epochs`` epochs, or when ``every_minutes`` have passed.

    ``stop_requested`` is a callable (for example a signal flag) polled after each epoch;
    when it turns true the trainer saves at once and raises :class:`TrainingInterrupted`.
    ``identity`` (e.g. the job's config hash and the code version) is saved with every
    checkpoint; a checkpoint whose identity differs is refused on load, never resumed.
    Subclasses implement :meth:`_write` and :meth:`_read`.
    """

    def __init__(
        self,
        every_epochs: int | None = 1,
        every_minutes: float | None = None,
        stop_requested: Callable[[], bool] | None = None,
        identity: dict | None = None,
    ):
        if every_epochs is None and every_minutes is None:
            raise ValueError("a checkpointer needs every_epochs or every_minutes")
        self.identity = dict(identity) if identity else None
        self.every_epochs = every_epochs
        self.every_minutes = every_minutes
        self._stop_requested = stop_requested or (lambda: False)
        self._last_save = time.monotonic()
        self.saved_epochs: list[int] = []

    def stop_requested(self) -> bool:
        return bool(self._stop_requested())

    def due(self, epoch: int) -> bool:
        """Whether the state after ``epoch`` (1-based count of finished epochs) should be saved."""
        if self.every_epochs is not None and epoch % self.every_epochs == 0:
            return True
        if self.every_minutes is not None and time.monotonic() - self._last_save >= 60 * self.every_minutes:
            return True
        return False

    def save(self, epoch: int, state: dict) -> None:
        if self.identity is not None:
            state = {**state, "identity": self.identity}
        self._write(epoch, serialise(state))
        self._last_save = time.monotonic()
        self.saved_epochs.append(epoch)

    def load(self) -> dict | None:
        data = self._read()
        if data is None:
            return None
        state = deserialise(data)
        if self.identity is not None and state.get("identity") != self.identity:
            saved = state.get("identity") or "no identity (an older checkpoint)"
            raise CheckpointMismatch(
                f"the checkpoint of epoch {state.get('epoch')} was saved by {saved}, this job is {self.identity}: it is "
                "not resumed; delete the job's checkpoint row to train from the start"
            )
        return state

    @abc.abstractmethod
    def _write(self, epoch: int, data: bytes) -> None:
        """Persist ``data`` as the latest checkpoint, replacing the previous one."""

    @abc.abstractmethod
    def _read(self) -> bytes | None:
        """The latest checkpoint's bytes, or None when there is none."""


class MemoryCheckpointer(Checkpointer):
    """Keeps the latest checkpoint in memory (direct calls and unit tests)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.data: bytes | None = None
        self.epoch: int | None = None

    def _write(self, epoch: int, data: bytes) -> None:
        self.data, self.epoch = data, epoch

    def _read(self) -> bytes | None:
        return self.data


class DirectoryCheckpointer(Checkpointer):
    """Keeps the latest checkpoint as ``checkpoint.pt`` in a directory, replaced atomically."""

    def __init__(self, directory: str | Path, **kwargs):
        super().__init__(**kwargs)
        self.path = Path(directory) / "checkpoint.pt"
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _write(self, epoch: int, data: bytes) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(self.path)

    def _read(self) -> bytes | None:
        return self.path.read_bytes() if self.path.exists() else None
