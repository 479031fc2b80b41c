"""Batched image transforms on the device: one ``grid_sample`` per batch, no per-image Python.

Training augmentation (the paper's): random crop with padding 4 (a shift of up to 4 px,
zeros where the padded border shows), horizontal flip, rotation up to 15 degrees; then
standardisation with the training set's mean and std. All three geometric steps are one
affine map per image, applied to the whole batch at once.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def standardise(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (b, h, w) or (b, 1, h, w) -> float (b, 1, h, w), standardised."""
    if images.dim() == 3:
        images = images[:, None]
    return (images.float() / 255.0 - mean) / std


def random_affine(batch: int, size: int, padding: int, max_degrees: float, flip: bool, generator: torch.Generator, device) -> torch.Tensor:
    """(batch, 2, 3) maps from output to input coordinates (normalised, align_corners=False)."""
    shift = torch.randint(-padding, padding + 1, (batch, 2), generator=generator).float() * (2.0 / size)
    angle = (torch.rand(batch, generator=generator) * 2 - 1) * math.radians(max_degrees)
    mirror = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0) if flip else torch.ones(batch)
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.zeros(batch, 2, 3)
    theta[:, 0, 0] = cos * mirror
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * mirror
    theta[:, 1, 1] = cos
    theta[:, :, 2] = shift
    return theta.to(device)


def augment(
    images: torch.Tensor,
    mean: float,
    std: float,
    generator: torch.Generator,
    padding: int = 4,
    max_degrees: float = 15.0,
    flip: bool = True,
) -> torch.Tensor:
    """Randomly shifted, flipped and rotated, then standardised, batch (b, 1, h, w) float."""
    x = images[:, None] if images.dim() == 3 else images
    x = x.float() / 255.0
    b, _, h, w = x.shape
    theta = random_affine(b, w, padding, max_degrees, flip, generator, x.device)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # zeros outside the image, as the zero padding of a random crop
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return (x - mean) / std
