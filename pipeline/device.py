"""The compute device, chosen at run time: CUDA when present, CPU otherwise.

A GPU that the machine shows (``CUDA_VISIBLE_DEVICES`` names one, ``nvidia-smi`` lists one,
``/dev/nvidia0`` exists) but torch cannot use (a CPU-only wheel, a driver older than the
wheel's CUDA) is an error, never a silent fall back to training VGG-19 on the CPU.
``PIPELINE_DEVICE=cpu`` is the explicit way to accept the CPU on such a machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where used: the CLI's status, gc and ingest's checks start without torch
    import torch


class DeviceError(RuntimeError):
    """The machine shows a GPU that torch cannot use, or a requested device is unavailable."""


def visible_gpu() -> str | None:
    """What shows a GPU on this machine (for the message), or None if nothing does."""
    named = os.environ.get("CUDA_VISIBLE_DEVICES")
    if named is not None:
        # "" and "-1" hide every GPU on purpose; NoDevFiles is what some schedulers set
        if named.strip() in ("", "-1", "NoDevFiles"):
            return None
        return f"CUDA_VISIBLE_DEVICES={named}"
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            out = None
        if out is not None and out.returncode == 0 and out.stdout.strip().startswith("GPU "):
            return f"nvidia-smi lists {out.stdout.strip().splitlines()[0]}"
    if Path("/dev/nvidia0").exists():
        return "/dev/nvidia0 exists"
    return None


def _why_cuda_is_unusable() -> str:
    import torch

    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    try:
        torch.cuda.init()
    except Exception as err:  # the driver's own words: too old, not loaded, no device
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return f"torch {torch.__version__} (CUDA {torch.version.cuda}) cannot initialise CUDA: {first}"
    return f"torch {torch.__version__} (CUDA {torch.version.cuda}) sees no usable device"


def check_gpu_usable() -> None:
    """Raise :class:`DeviceError` if a GPU is visible, torch cannot use it, and the CPU was
    not chosen explicitly (``PIPELINE_DEVICE=cpu``)."""
    import torch

    if os.environ.get("PIPELINE_DEVICE") or torch.cuda.is_available():
        return
    seen = visible_gpu()
    if seen:
        raise DeviceError(
            f"a GPU is visible ({seen}) but {_why_cuda_is_unusable()}: install the torch wheel built for this driver's "
            "CUDA (or update the driver), or set PIPELINE_DEVICE=cpu to train on the CPU on purpose"
        )


def choose_device(preferred: str | None = None) -> torch.device:
    """``PIPELINE_DEVICE`` or ``preferred`` if set, else the first visible GPU, else CPU.

    A worker is started with ``CUDA_VISIBLE_DEVICES`` naming its one GPU, so ``cuda`` here
    always means that GPU. Raises :class:`DeviceError` for a GPU that is visible but unusable.
    """
    import torch

    name = preferred or os.environ.get("PIPELINE_DEVICE")
    if name:
        try:
            device = torch.device(name)
        except RuntimeError as err:
            raise DeviceError(f"PIPELINE_DEVICE={name!r} is not a device (expected cpu, cuda or cuda:N): {err}") from None
        if device.type == "cuda" and not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} was requested but {_why_cuda_is_unusable()}")
        return device
    check_gpu_usable()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")
