"""Batched augmentation: torchvision's crop, flip and rotation exactly, with no smoothing."""

import numpy as np
import pytest
import torch
from scipy import stats
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as TF

from pipeline.images.augment import apply_geometry, augment, draw_params, draw_params_numpy, standardise


def _ramp(batch=8, size=16):
    x = torch.arange(size * size, dtype=torch.float32).reshape(size, size)
    return (x % 251).to(torch.uint8).repeat(batch, 1, 1)


def _as_torchvision(image: torch.Tensor, dy: int, dx: int, mirror: bool, angle: float, padding: int = 4) -> torch.Tensor:
    """RandomCrop(padding) -> RandomHorizontalFlip -> RandomRotation (nearest, fill 0) with fixed draws."""
    h, w = image.shape[-2:]
    out = TF.crop(TF.pad(image.float(), [padding]), dy + padding, dx + padding, h, w)
    if mirror:
        out = TF.hflip(out)
    return TF.rotate(out, angle, InterpolationMode.NEAREST, fill=[0.0] * image.shape[0])


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


def test_equals_torchvision_per_image_pipeline():
    """Crop, flip and rotation of every image equal torchvision's tensor transforms bit for bit."""
    x = torch.randint(0, 256, (48, 3, 64, 64), dtype=torch.uint8)
    params = draw_params(len(x), padding=4, max_degrees=15, flip=True, generator=torch.Generator().manual_seed(5))
    y = apply_geometry(x, params, padding=4)
    for i in range(len(x)):
        dy, dx = params.shift[i].tolist()
        expected = _as_torchvision(x[i], dy, dx, bool(params.mirror[i]), float(params.angle[i]))
        assert torch.equal(y[i], expected), f"image {i}"


def test_without_rotation_every_pixel_is_an_input_pixel_or_the_fill_and_noise_keeps_its_std():
    x = _ramp()
    params = draw_params(len(x), padding=4, max_degrees=0, flip=True, generator=torch.Generator().manual_seed(1))
    y = apply_geometry(x[:, None], params, padding=4)[:, 0]
    for i in range(len(x)):
        dy, dx = params.shift[i].tolist()
        src = x[i].float().flip(-1) if params.mirror[i] else x[i].float()
        if params.mirror[i]:
            dx = -dx  # the crop window moves before the flip
        for r in range(16):
            for c in range(16):
                rr, cc = r + dy, c + dx
                inside = 0 <= rr < 16 and 0 <= cc < 16
                assert y[i, r, c] == (src[rr, cc] if inside else 0)
    # white noise: unchanged std where no padding shows (old bilinear rotation: 0.68 of it)
    noise = torch.randint(0, 256, (64, 64, 64), dtype=torch.uint8)
    none = draw_params(64, padding=0, max_degrees=0, flip=True, generator=torch.Generator().manual_seed(2))
    out = apply_geometry(noise[:, None], none, padding=0)
    assert out.std().item() == pytest.approx(noise.float().std().item(), rel=1e-6)


def test_with_rotation_every_value_is_an_input_value_or_the_fill():
    x = torch.randint(1, 256, (16, 1, 32, 32), dtype=torch.uint8)  # no zeros in the input
    y = augment(x, mean=0.0, std=1 / 255.0, generator=torch.Generator().manual_seed(7))
    values = y.round()
    assert torch.allclose(y, values, atol=1e-3)  # integers: no interpolated values
    for i in range(len(x)):
        allowed = set(x[i].flatten().tolist()) | {0}
        assert set(values[i].long().flatten().tolist()) <= allowed
    # and the rotation does not smooth: interior std of white noise is kept
    noise = torch.randint(0, 256, (64, 1, 64, 64), dtype=torch.uint8)
    rotated = augment(noise, mean=0.0, std=1 / 255.0, generator=torch.Generator().manual_seed(8), padding=0)
    interior = rotated[:, :, 16:48, 16:48]
    assert interior.std().item() == pytest.approx(noise.float().std().item(), rel=0.02)


def test_flip_mirrors_columns_exactly():
    x = _ramp(batch=64)
    y = augment(x, mean=0.0, std=1 / 255.0, generator=torch.Generator().manual_seed(2), padding=0, max_degrees=0, flip=True)
    # (x / 255 - 0) * 255 rounds to within 1e-4 of x
    flipped = [torch.allclose(y[i, 0], x[i].float().flip(-1), atol=1e-3) for i in range(len(x))]
    same = [torch.allclose(y[i, 0], x[i].float(), atol=1e-3) for i in range(len(x))]
    assert all(f or s for f, s in zip(flipped, same))
    assert 16 < sum(flipped) < 48  # about half are mirrored


@pytest.mark.parametrize("draw", ["torch", "numpy"])
def test_distribution_of_shifts_flips_and_angles_matches_the_spec(draw):
    n = 18_000
    if draw == "torch":
        params = draw_params(n, padding=4, max_degrees=15, flip=True, generator=torch.Generator().manual_seed(4))
    else:
        params = draw_params_numpy(n, padding=4, max_degrees=15, flip=True, rng=np.random.default_rng(4))
    for axis in (0, 1):
        counts = np.bincount(params.shift[:, axis].numpy() + 4, minlength=9)
        assert len(counts) == 9  # shifts -4..4 only
        assert stats.chisquare(counts).pvalue > 1e-3  # uniform over the 9 crop positions
    assert stats.binomtest(int(params.mirror.sum()), n, 0.5).pvalue > 1e-3
    angles = params.angle.numpy()
    assert angles.min() >= -15 and angles.max() <= 15
    assert stats.kstest(angles, stats.uniform(loc=-15, scale=30).cdf).pvalue > 1e-3


def test_standardise():
    x = torch.full((2, 4, 4), 255, dtype=torch.uint8)
    assert torch.allclose(standardise(x, 0.5, 0.25), torch.full((2, 1, 4, 4), 2.0))


def test_an_empty_batch_stays_empty():
    params = draw_params(0, 4, 15.0, True, torch.Generator().manual_seed(0))
    assert apply_geometry(torch.zeros(0, 1, 64, 64, dtype=torch.uint8), params, 4).shape == (0, 1, 64, 64)


def test_rotation_grid_equals_torchvisions_affine_grid():
    """rotation_grid (the separable sum where it is exact here, else the bmm) equals
    torchvision's (h * w, 3) @ (3, 2) grid, for many angles and an odd and an even size
    (torchvision builds one image's grid at a time, with bmm)."""
    from torchvision.transforms import _functional_tensor as FT

    from pipeline.images.augment import rotation_grid

    angles = (torch.rand(400, generator=torch.Generator().manual_seed(11), dtype=torch.float64) * 2 - 1) * 15
    for h, w in ((64, 64), (31, 40)):
        grid = rotation_grid(angles, h, w, "cpu")
        for i, angle in enumerate(angles.tolist()):
            matrix = TF._get_inverse_affine_matrix([0.0, 0.0], -angle, [0.0, 0.0], 1.0, [0.0, 0.0])
            theta = torch.tensor(matrix, dtype=torch.float32).reshape(1, 2, 3)
            expected = FT._gen_affine_grid(theta, w=w, h=h, ow=w, oh=h)
            assert torch.equal(grid[i : i + 1], expected), (h, w, angle)


def test_the_fast_grid_is_used_only_where_it_is_exact(monkeypatch):
    """Where the separable sum would round differently from the bmm (a BLAS that fuses the
    multiply-add, simulated here by a grid one rounding off), the bmm's grid is returned."""
    from pipeline.images import augment as A

    angles = torch.linspace(-15, 15, 64, dtype=torch.float64)
    monkeypatch.setattr(A, "_SEPARABLE_IS_EXACT", {})
    exact = A._bmm_grid(A._rescaled_matrices(angles, 20, 24, "cpu"), 20, 24, "cpu")
    separable = A._separable_grid

    def one_rounding_off(rescaled, h, w, device):
        return torch.nextafter(separable(rescaled, h, w, device), torch.tensor(float("inf")))

    monkeypatch.setattr(A, "_separable_grid", one_rounding_off)
    assert not A.separable_is_exact(20, 24, "cpu")
    assert torch.equal(A.rotation_grid(angles, 20, 24, "cpu"), exact)
