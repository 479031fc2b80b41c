"""Stimulus images: natural-looking synthetic images, and the crop-and-downscale to model input.

The monkeys saw 420 x 420 px images at 63 pixels per degree (6.7 degrees). The models see
64 x 64 px at 14 ppd: the central 64 * 63 / 14 = 288 px are cropped and downscaled.
"""

from __future__ import annotations

import numpy as np

MODEL_PPD = 14.0
MODEL_PX = 64


def crop_and_downscale(images: np.ndarray, ppd_in: float, ppd_out: float = MODEL_PPD, out_px: int = MODEL_PX) -> np.ndarray:
    """Centre-crop the ``out_px * ppd_in / ppd_out`` px that cover the model's field, resize to ``out_px``.

    ``images`` is (n, h, w) in [0, 255]; the result is uint8 (n, out_px, out_px).
    """
    import torch  # here, not at the top: ingest checks the published layout's files without torch
    import torch.nn.functional as F

    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"expected (n, h, w) images, got shape {images.shape}")
    crop = int(round(out_px * ppd_in / ppd_out))
    n, h, w = images.shape
    if crop > min(h, w):
        raise ValueError(f"images of {h}x{w} px at {ppd_in} ppd are smaller than the {crop} px field of the model")
    top, left = (h - crop) // 2, (w - crop) // 2
    out = np.empty((n, out_px, out_px), dtype=np.uint8)
    for start in range(0, n, 1024):  # bounded memory for large sets
        chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + 1024, top : top + crop, left : left + crop], dtype=np.float32))
        if crop != out_px:
            chunk = F.interpolate(chunk[:, None], size=(out_px, out_px), mode="bilinear", antialias=True, align_corners=False)[:, 0]
        out[start : start + 1024] = chunk.round().clamp(0, 255).to(torch.uint8).numpy()
    return out


def _pink_noise(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    """Gaussian noise with a 1/f^alpha amplitude spectrum, alpha in [0.9, 1.4] per image."""
    fy = np.fft.fftfreq(px)[:, None]
    fx = np.fft.rfftfreq(px)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0
    alpha = rng.uniform(0.9, 1.4, size=(n, 1, 1))
    spectrum = (rng.standard_normal((n, px, px // 2 + 1)) + 1j * rng.standard_normal((n, px, px // 2 + 1))) / radius**alpha
    spectrum[:, 0, 0] = 0
    field = np.fft.irfft2(spectrum, s=(px, px))
    return field / field.std(axis=(1, 2), keepdims=True)


def natural_images(rng: np.random.Generator, n: int, px: int) -> np.ndarray:
    """(n, px, px) uint8 images: 1/f textured backgrounds with a few occluding textured shapes
    (ellipses and oriented bars), random contrast and mean luminance."""
    out = np.empty((n, px, px), dtype=np.uint8)
    yy, xx = np.mgrid[0:px, 0:px] / px
    for start in range(0, n, 256):
        m = min(256, n - start)
        background = _pink_noise(rng, m, px)
        for i in range(m):
            img = background[i]
            for _ in range(rng.integers(1, 4)):
                texture = _pink_noise(rng, 1, px)[0] * rng.uniform(0.3, 1.0) + rng.uniform(-1.5, 1.5)
                cy, cx = rng.uniform(0.15, 0.85, 2)
                theta = rng.uniform(0, np.pi)
                u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
                v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
                a, b = rng.uniform(0.05, 0.35), rng.uniform(0.03, 0.25)
                mask = (u / a) ** 2 + (v / b) ** 2 <= 1 if rng.random() < 0.6 else (np.abs(u) <= a) & (np.abs(v) <= b / 3)
                img = np.where(mask, texture, img)
            contrast = rng.uniform(25, 60)
            mean = rng.uniform(90, 165)
            out[start + i] = np.clip(mean + contrast * (img - img.mean()) / (img.std() + 1e-6), 0, 255).astype(np.uint8)
    return out
