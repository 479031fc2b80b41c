"""The compute device, chosen at run time: CUDA when present, CPU otherwise."""

from __future__ import annotations

import os

import torch


def choose_device(preferred: str | None = None) -> torch.device:
    """``PIPELINE_DEVICE`` or ``preferred`` if set, else the first visible GPU, else CPU.

    A worker is started with ``CUDA_VISIBLE_DEVICES`` naming its one GPU, so ``cuda`` here
    always means that GPU.
    """
    name = preferred or os.environ.get("PIPELINE_DEVICE")
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} was requested but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
