"""Saliency maps: the offline spectral-residual model and DeepGaze II from a weights file.

The paper uses DeepGaze II densities. Its weights cannot be downloaded here, so the
offline default is the spectral-residual model of Hou & Zhang (CVPR 2007), a published,
parameter-free model, named as what it is. ``DeepGazeII`` is built to load a user's
weights file (a state dict for this module) and refuses to run without one.

The binary mask (paper, section 4): sort pixels by density, descending, and mark as
salient the top pixels up to a cumulative density of 0.7.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy import ndimage


def spectral_residual(image: np.ndarray, scale: int = 64, blur_sigma: float = 2.5) -> np.ndarray:
    """Hou & Zhang 2007: saliency from the residual of the log amplitude spectrum.

    Computed at ``scale`` px on the longer side (their recommendation: 64), resized back to
    the image, and normalised to a density (sums to 1).
    """
    image = np.asarray(image, dtype=np.float64)
    zoom = scale / max(image.shape)
    small = ndimage.zoom(image, zoom, order=1)
    spectrum = np.fft.fft2(small)
    log_amplitude = np.log(np.abs(spectrum) + 1e-12)
    residual = log_amplitude - ndimage.uniform_filter(log_amplitude, size=3, mode="nearest")
    saliency = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))) ** 2
    saliency = ndimage.gaussian_filter(saliency, blur_sigma)
    saliency = ndimage.zoom(saliency, (image.shape[0] / saliency.shape[0], image.shape[1] / saliency.shape[1]), order=1)
    saliency = np.clip(saliency, 0, None)
    return saliency / saliency.sum()


def salient_mask(density: np.ndarray, level: float = 0.7) -> np.ndarray:
    """The top pixels by density whose cumulative density reaches ``level`` (the pixel that
    crosses it included)."""
    density = np.asarray(density, dtype=np.float64)
    density = density / density.sum()
    order = np.argsort(density, axis=None, kind="stable")[::-1]
    cumulative = np.cumsum(density.ravel()[order])
    count = int(np.searchsorted(cumulative, level - 1e-12)) + 1
    mask = np.zeros(density.size, dtype=bool)
    mask[order[:count]] = True
    return mask.reshape(density.shape)


def resize(image: np.ndarray, px: int = 64) -> np.ndarray:
    """Area-averaged resize to px x px (images and densities)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.asarray(image, dtype=np.float32)).resize((px, px), Image.BOX), dtype=np.float32)


def resize_mask(mask: np.ndarray, px: int = 64) -> np.ndarray:
    """A binary mask at px x px: a pixel is salient if most of its area was."""
    return resize(np.asarray(mask, dtype=np.float32), px) >= 0.5


class SaliencyUnavailable(RuntimeError):
    """A saliency model that cannot run here (e.g. DeepGaze II without its weights)."""


def deepgaze2(image: np.ndarray, weights_path: str | None, centre_bias: np.ndarray | None = None) -> np.ndarray:
    """DeepGaze II density from a user's weights file; refuses without one."""
    if not weights_path or not Path(weights_path).is_file():
        raise SaliencyUnavailable(
            f"DeepGaze II needs its weights file (a state dict of pipeline.saliency.DeepGazeII); "
            f"none at {weights_path!r}. They cannot be downloaded here: put the file on disk and set the "
            f"saliency model's weights_path. The offline default is the spectral-residual model."
        )
    import torch

    model = _deepgaze_module()()
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except Exception as err:  # a pickle of something else, or another layout's keys
        first = str(err).strip().splitlines()[0][:300]
        raise SaliencyUnavailable(
            f"{weights_path}: not a state dict of pipeline.saliency.DeepGazeII ({first}); only that layout loads "
            "(features.N.*, readout.*, blur_sigma, centre_weight), see README, Saliency"
        ) from None
    model.eval()
    rgb = np.repeat(np.asarray(image, dtype=np.float32)[None, None], 3, axis=1) / 255.0
    with torch.no_grad():
        log_density = model(torch.from_numpy(rgb), None if centre_bias is None else torch.from_numpy(centre_bias)[None])
    density = np.exp(log_density[0].numpy())
    return density / density.sum()


def _deepgaze_module():
    import torch
    from torch import nn
    from torch.nn import functional as F
    from torchvision.models import vgg19

    class DeepGazeII(nn.Module):
        """Kümmerer et al. 2017: VGG-19 features (conv5_1, relu5_1, relu5_2, conv5_3, relu5_4),
        a readout of four 1x1 convolutions (16, 32, 2, 1) with softplus, Gaussian blur, a
        centre bias added in log space, and a softmax over pixels."""

        LAYERS = (28, 29, 31, 32, 35)  # indices in torchvision's vgg19().features

        def __init__(self):
            super().__init__()
            self.features = vgg19(weights=None).features[:36]
            for layer in self.features:  # torchvision's ReLUs act in place: a captured conv5_1 would
                if isinstance(layer, nn.ReLU):  # become relu5_1 when the next layer runs
                    layer.inplace = False
            self.readout = nn.Sequential(nn.Conv2d(5 * 512, 16, 1), nn.Softplus(), nn.Conv2d(16, 32, 1), nn.Softplus(),
                                         nn.Conv2d(32, 2, 1), nn.Softplus(), nn.Conv2d(2, 1, 1))
            self.blur_sigma = nn.Parameter(torch.tensor(5.0))
            self.centre_weight = nn.Parameter(torch.tensor(1.0))

        def capture(self, x):
            """The five feature maps of LAYERS for standardised input x; conv5_1 and conv5_3 are
            the convolutions' outputs before their ReLUs."""
            picked = []
            for i, layer in enumerate(self.features):
                x = layer(x)
                if i in self.LAYERS:
                    picked.append(x)
            return picked

        def forward(self, rgb, centre_bias=None):
            mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
            std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
            picked = self.capture((F.interpolate(rgb, scale_factor=0.5) - mean) / std)
            size = picked[0].shape[-2:]
            readout = self.readout(torch.cat([F.interpolate(p, size=size) for p in picked], 1))
            readout = F.interpolate(readout, size=rgb.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            radius = int(3 * abs(float(self.blur_sigma))) | 1
            grid = torch.arange(-radius, radius + 1, dtype=torch.float32)
            kernel = torch.exp(-(grid**2) / (2 * self.blur_sigma**2))
            kernel = kernel / kernel.sum()
            readout = F.conv2d(readout[:, None], kernel.view(1, 1, 1, -1), padding=(0, radius))
            readout = F.conv2d(readout, kernel.view(1, 1, -1, 1), padding=(radius, 0))[:, 0]
            if centre_bias is not None:
                readout = readout + self.centre_weight * centre_bias
            return readout - torch.logsumexp(readout.flatten(1), 1).view(-1, 1, 1)

    return DeepGazeII


def __getattr__(name):
    if name == "DeepGazeII":  # built on first use: torchvision is imported only when needed
        return _deepgaze_module()
    raise AttributeError(name)
