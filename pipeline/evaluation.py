"""Accuracy of a classifier on stored image sets: batched, on the device, per image."""

from __future__ import annotations

import contextlib

import numpy as np
import torch

from .images.augment import standardise


@torch.inference_mode()
def correct_per_image(model, images: np.ndarray | torch.Tensor, labels: np.ndarray | torch.Tensor, mean: float, std: float,
                      batch_size: int = 512) -> np.ndarray:
    """Bool (n,): whether the model's top class is the label, image by image."""
    model.eval()
    device = next(model.parameters()).device
    images = torch.as_tensor(np.asarray(images))
    labels = torch.as_tensor(np.asarray(labels)).long()
    out = []
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    for start in range(0, len(images), batch_size):
        x = standardise(images[start : start + batch_size].to(device, non_blocking=True), mean, std)
        with autocast:
            logits = model(x)
        out.append((logits.argmax(1).cpu() == labels[start : start + batch_size]).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=bool)


def pack(correct: np.ndarray) -> np.ndarray:
    """Per-image correctness as bits (8 images per byte)."""
    return np.packbits(np.asarray(correct, dtype=bool))


def unpack(packed: np.ndarray, n: int) -> np.ndarray:
    return np.unpackbits(np.asarray(packed, dtype=np.uint8), count=int(n)).astype(bool)
