"""Trainers: resumable loops that checkpoint through an injected :class:`Checkpointer`."""

from .checkpoint import Checkpointer, DirectoryCheckpointer, MemoryCheckpointer, TrainingInterrupted
from .classification import TrainingResult, train_classifier

__all__ = [
    "Checkpointer",
    "DirectoryCheckpointer",
    "MemoryCheckpointer",
    "TrainingInterrupted",
    "TrainingResult",
    "train_classifier",
]
