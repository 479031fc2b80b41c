"""Batched training augmentation on the device, exactly as torchvision's per-image transforms.

The paper's augmentation is ``RandomCrop(64, padding=4)``, ``RandomHorizontalFlip()`` and
``RandomRotation(15)``, in that order, each drawn per image; then standardisation with the
training set's mean and std. Here the whole batch is transformed at once, with the same
geometry and no smoothing:

* the crop is an integer shift of -4..4 px in each direction with zeros where the padded
  border shows, and the flip mirrors columns exactly (one gather for both);
* the rotation uses torchvision's sampling grid (that of ``_gen_affine_grid`` in its tensor
  ``rotate``, built faster where that is exact: :func:`rotation_grid`) and its default
  nearest-neighbour interpolation, zeros outside.

So every output value is an input value or the fill, as with torchvision; a bilinear
resampling would blur every training image (white noise kept 0.68 of its pixel std) and
the classifiers would train on images blurrier than those they are tested on.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
import torch.nn.functional as F

# the paper's training geometry: RandomCrop(padding=4), RandomHorizontalFlip, RandomRotation(15)
PAPER_AUGMENTATION = {"padding": 4, "max_degrees": 15.0, "flip": True}


def standardise(images: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 (b, h, w) or (b, 1, h, w) -> float (b, 1, h, w), standardised."""
    if images.dim() == 3:
        images = images[:, None]
    return (images.float() / 255.0 - mean) / std


@dataclasses.dataclass
class AugmentationParams:
    """One draw per image: what torchvision's three transforms would have drawn."""

    shift: torch.Tensor  # (b, 2) int64: (rows, columns) the crop window moves, -padding..padding (px)
    mirror: torch.Tensor  # (b,) bool: mirrored left-right
    angle: torch.Tensor  # (b,) float64: counter-clockwise rotation (degrees), uniform in [-max, max]

    def __len__(self) -> int:
        return len(self.mirror)


def draw_params(batch: int, padding: int, max_degrees: float, flip: bool, generator: torch.Generator) -> AugmentationParams:
    """Random crop offsets uniform over the 2 * padding + 1 positions, flips with probability
    1/2, angles uniform in [-max_degrees, max_degrees] (torchvision's distributions)."""
    shift = torch.randint(-padding, padding + 1, (batch, 2), generator=generator)
    mirror = torch.rand(batch, generator=generator) < 0.5 if flip else torch.zeros(batch, dtype=torch.bool)
    angle = (torch.rand(batch, generator=generator, dtype=torch.float64) * 2 - 1) * max_degrees
    return AugmentationParams(shift, mirror, angle)


def draw_params_numpy(batch: int, padding: int, max_degrees: float, flip: bool, rng: np.random.Generator) -> AugmentationParams:
    """The same distributions from a numpy generator (the Oracle's corruption pool plans with numpy)."""
    shift = rng.integers(-padding, padding + 1, (batch, 2))
    mirror = rng.random(batch) < 0.5 if flip else np.zeros(batch, dtype=bool)
    angle = (rng.random(batch) * 2 - 1) * max_degrees
    return AugmentationParams(torch.from_numpy(shift).long(), torch.from_numpy(mirror), torch.from_numpy(angle))


def _crop_and_flip(x: torch.Tensor, params: AugmentationParams, padding: int) -> torch.Tensor:
    """(b, c, h, w) -> (b, c, h, w): output (r, col) = padded input (r + dy, col' + dx), col' mirrored.

    One ``gather`` over each image's flattened pixels: 1.7-2.3x faster on the CPU than advanced
    indexing over (batch, rows, columns), which also had to permute its result back.
    """
    b, c, h, w = x.shape
    if b == 0:
        return x.clone()
    padded = F.pad(x, (padding, padding, padding, padding)) if padding else x
    width = padded.shape[-1]
    shift = params.shift.to(x.device) + padding
    columns = torch.arange(w, device=x.device).expand(b, w)
    columns = torch.where(params.mirror.to(x.device)[:, None], w - 1 - columns, columns) + shift[:, 1:]
    rows = torch.arange(h, device=x.device)[None, :] + shift[:, :1]
    index = (rows[:, :, None] * width + columns[:, None, :]).reshape(b, 1, h * w).expand(b, c, h * w)
    return torch.gather(padded.reshape(b, c, -1), 2, index).view(b, c, h, w)


def _rescaled_matrices(angle_degrees: torch.Tensor, h: int, w: int, device) -> torch.Tensor:
    """(b, 3, 2): each image's inverse rotation matrix, transposed and divided by the half-size, as torchvision's."""
    # in float64 and then rounded to float32, as torchvision's python-float matrix
    theta = torch.deg2rad(angle_degrees.to(torch.float64))
    cos, sin = torch.cos(theta).float(), torch.sin(theta).float()
    # torchvision: matrix = _get_inverse_affine_matrix(centre 0, -angle, ...) = [cos, -sin, 0, sin, cos, 0]
    matrix = torch.zeros(len(theta), 2, 3)
    matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = cos, -sin, sin, cos
    return (matrix.transpose(1, 2) / torch.tensor([0.5 * w, 0.5 * h])).to(device)


def _pixel_centres(h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """torchvision's x (w,) and y (h,) pixel-centre coordinates, the image's centre at 0."""
    xs = torch.linspace(-w * 0.5 + 0.5, w * 0.5 + 0.5 - 1, steps=w, device=device)
    ys = torch.linspace(-h * 0.5 + 0.5, h * 0.5 + 0.5 - 1, steps=h, device=device)
    return xs, ys


def _bmm_grid(rescaled: torch.Tensor, h: int, w: int, device) -> torch.Tensor:
    """torchvision's own formulation: a (h * w, 3) grid of (x, y, 1) times each (3, 2) matrix."""
    xs, ys = _pixel_centres(h, w, device)
    base = torch.empty(1, h, w, 3, device=device)
    base[..., 0].copy_(xs)
    base[..., 1].copy_(ys.unsqueeze(-1))
    base[..., 2].fill_(1)
    b = len(rescaled)
    return base.view(1, h * w, 3).expand(b, h * w, 3).bmm(rescaled).view(b, h, w, 2)


def _separable_grid(rescaled: torch.Tensor, h: int, w: int, device) -> torch.Tensor:
    """The same grid as two products and one sum per entry, ``x * m0 + y * m1``, broadcast
    from a row and a column (the matrix's third row is the zero translation, which adds
    nothing). Computed as (b, 2, h, w), rows of w contiguous, and returned as a (b, h, w, 2)
    view: the broadcast over a last axis of 2 was 14x slower, and grid_sample reads the view
    as fast."""
    b = len(rescaled)
    xs, ys = _pixel_centres(h, w, device)
    grid = torch.empty(b, 2, h, w, device=device)
    torch.add(xs.view(1, 1, 1, w) * rescaled[:, 0].view(b, 2, 1, 1), ys.view(1, 1, h, 1) * rescaled[:, 1].view(b, 2, 1, 1),
              out=grid)
    return grid.permute(0, 2, 3, 1)


#: (device type, h, w) -> whether the separable grid equals the bmm's there, bit for bit
_SEPARABLE_IS_EXACT: dict[tuple[str, int, int], bool] = {}


def separable_is_exact(h: int, w: int, device) -> bool:
    """Whether this device's ``bmm`` rounds the grid as the separable sum does (multiply, then
    add). A BLAS that fuses the multiply-add rounds differently in about one entry in five;
    where it does, torchvision's grid comes from that BLAS, so the ``bmm`` is kept there.
    Checked once per device type and size on 512 angles (a fused BLAS differs on every one)."""
    device = torch.device(device)
    key = (device.type, h, w)
    if key not in _SEPARABLE_IS_EXACT:
        angles = torch.linspace(-45.0, 45.0, 512, dtype=torch.float64)
        rescaled = _rescaled_matrices(angles, h, w, device)
        _SEPARABLE_IS_EXACT[key] = torch.equal(_bmm_grid(rescaled, h, w, device), _separable_grid(rescaled, h, w, device))
    return _SEPARABLE_IS_EXACT[key]


def rotation_grid(angle_degrees: torch.Tensor, h: int, w: int, device) -> torch.Tensor:
    """(b, h, w, 2) sampling grid of torchvision's tensor ``rotate`` (centre of the image, no
    expand), equal to torchvision's bit for bit.

    torchvision multiplies a (h * w, 3) grid of (x, y, 1) by each image's (3, 2) matrix in a
    ``bmm``; batched, a ``bmm`` with an inner size of 3 took 60-70% of the augmentation on the
    CPU. The grid is separable, and the separable sum is 5-20x faster. It is used where this
    device's ``bmm`` is measured to round the same way (:func:`separable_is_exact`; so on the
    CPUs measured), the ``bmm`` elsewhere.
    """
    rescaled = _rescaled_matrices(angle_degrees, h, w, device)
    if separable_is_exact(h, w, device):
        return _separable_grid(rescaled, h, w, device)
    return _bmm_grid(rescaled, h, w, device)


def apply_geometry(images: torch.Tensor, params: AugmentationParams, padding: int = 4) -> torch.Tensor:
    """Crop, flip and rotate a batch as drawn by ``params``; (b, c, h, w) in, float (b, c, h, w) out.

    Values are unchanged (uint8 input comes out as the same integers in float32); pixels that
    show the padding or fall outside the rotated image are 0.
    """
    x = _crop_and_flip(images, params, padding).float()  # moved as uint8: a quarter of the bytes
    if bool((params.angle != 0).any()):
        grid = rotation_grid(params.angle, x.shape[-2], x.shape[-1], x.device)
        x = F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return x


def augment(
    images: torch.Tensor,
    mean: float,
    std: float,
    generator: torch.Generator,
    padding: int = 4,
    max_degrees: float = 15.0,
    flip: bool = True,
) -> torch.Tensor:
    """Randomly cropped, flipped and rotated, then standardised: uint8 (b, [1,] h, w) -> float (b, 1, h, w)."""
    x = images[:, None] if images.dim() == 3 else images
    params = draw_params(len(x), padding, max_degrees, flip, generator)
    x = apply_geometry(x, params, padding)
    return (x / 255.0 - mean) / std
