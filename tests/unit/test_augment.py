"""Batched augmentation: shapes, value ranges, and exact crop and flip geometry."""

import math

import pytest
import torch

from pipeline.images.augment import augment, random_affine, standardise


def _ramp(batch=8, size=16):
    x = torch.arange(size * size, dtype=torch.float32).reshape(size, size)
    return (x % 251).to(torch.uint8).repeat(batch, 1, 1)


def test_shapes_and_ranges():
    x = torch.randint(0, 256, (32, 64, 64), dtype=torch.uint8)
    y = augment(x, mean=0.5, std=0.25, generator=torch.Generator().manual_seed(0))
    assert y.shape == (32, 1, 64, 64) and y.dtype == torch.float32
    assert y.min() >= (0 - 0.5) / 0.25 - 1e-5 and y.max() <= (1 - 0.5) / 0.25 + 1e-5


def test_same_generator_state_same_batch():
    x = torch.randint(0, 256, (4, 32, 32), dtype=torch.uint8)
    a = augment(x, 0.5, 0.25, torch.Generator().manual_seed(3))
    b = augment(x, 0.5, 0.25, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_crop_is_an_exact_integer_shift_with_zero_padding():
    x = _ramp()
    g = torch.Generator().manual_seed(1)
    theta = random_affine(len(x), 16, padding=4, max_degrees=0, flip=False, generator=torch.Generator().manual_seed(1), device="cpu")
    y = augment(x, mean=0.0, std=1 / 255.0, generator=g, padding=4, max_degrees=0, flip=False)
    for i in range(len(x)):
        dx, dy = (theta[i, :, 2] * 16 / 2).round().long().tolist()
        expected = torch.zeros(16, 16)
        src = x[i].float()
        # output pixel (r, c) shows input (r + dy, c + dx); outside the image it is 0
        for r in range(16):
            for c in range(16):
                rr, cc = r + dy, c + dx
                if 0 <= rr < 16 and 0 <= cc < 16:
                    expected[r, c] = src[rr, cc]
        torch.testing.assert_close(y[i, 0], expected, atol=1e-3, rtol=0)
        assert abs(dx) <= 4 and abs(dy) <= 4


def test_flip_mirrors_columns_exactly():
    x = _ramp(batch=64)
    y = augment(x, mean=0.0, std=1 / 255.0, generator=torch.Generator().manual_seed(2), padding=0, max_degrees=0, flip=True)
    flipped = [torch.allclose(y[i, 0], x[i].float().flip(-1), atol=1e-3) for i in range(len(x))]
    same = [torch.allclose(y[i, 0], x[i].float(), atol=1e-3) for i in range(len(x))]
    assert all(f or s for f, s in zip(flipped, same))
    assert 16 < sum(flipped) < 48  # about half are mirrored


def test_rotation_stays_within_fifteen_degrees():
    theta = random_affine(1000, 64, padding=4, max_degrees=15, flip=False, generator=torch.Generator().manual_seed(4), device="cpu")
    angles = torch.atan2(theta[:, 1, 0], theta[:, 0, 0])
    assert angles.abs().max() <= math.radians(15) + 1e-6 and angles.abs().max() > math.radians(10)


def test_standardise():
    x = torch.full((2, 4, 4), 255, dtype=torch.uint8)
    assert torch.allclose(standardise(x, 0.5, 0.25), torch.full((2, 1, 4, 4), 2.0))
