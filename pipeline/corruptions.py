"""ImageNet-C corruptions (the ``imagecorruptions`` implementation) on 64 x 64 images.

As in the authors' code, an image is corrupted as RGB (``corrupt`` always works on 3
channels) and converted to grayscale afterwards (ITU-R 601-2 luma); the order matters for
brightness, fog, frost, snow and contrast. Grey images are replicated to RGB first. Randomness is seeded per image, so a corrupted set is reproducible bit
for bit.
"""

from __future__ import annotations

import numpy as np

# the 15 ImageNet-C corruptions by category; TIN-TC leaves out glass blur
CATEGORIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
CORRUPTIONS = tuple(name for names in CATEGORIES.values() for name in names)
LEFT_OUT_OF_TIN_TC = ("glass_blur",)
TIN_TC = tuple(c for c in CORRUPTIONS if c not in LEFT_OUT_OF_TIN_TC)
SEVERITIES = (1, 2, 3, 4, 5)


def category_of(corruption: str) -> str:
    for category, names in CATEGORIES.items():
        if corruption in names:
            return category
    raise KeyError(f"unknown corruption {corruption!r}; known: {CORRUPTIONS}")


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601-2 luma of uint8 RGB (..., 3), bit for bit as PIL's ``convert('L')``.

    PIL computes it in 16-bit fixed point, L = (19595 R + 38470 G + 7471 B + 2^15) >> 16,
    which differs from rounding 0.299 R + 0.587 G + 0.114 B for some colours; the same
    integer formula is used here so that a grey image read by PIL and a corrupted image
    converted here agree. A grey pixel replicated to RGB maps back to itself.
    """
    rgb = np.asarray(rgb)
    if rgb.shape[-1:] != (3,):
        raise ValueError(f"RGB pixels must have 3 channels last, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        rgb = np.clip(rgb, 0, 255).astype(np.uint8)  # as imagecorruptions' own np.uint8(...) output
    c = rgb.astype(np.uint32)
    return ((c[..., 0] * 19595 + c[..., 1] * 38470 + c[..., 2] * 7471 + 0x8000) >> 16).astype(np.uint8)


def corrupt_image(image: np.ndarray, corruption: str, severity: int, seed: int) -> np.ndarray:
    """One uint8 image, RGB (h, w, 3) or grey (h, w), corrupted as RGB and returned grey (h, w).

    A grey image is replicated to three channels first, as a grey JPEG is read as RGB. The
    same seed gives the same result.
    """
    from imagecorruptions import corrupt

    if corruption not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {corruption!r}; known: {CORRUPTIONS}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity {severity} is not one of {SEVERITIES}")
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 2:
        rgb = np.repeat(image[..., None], 3, axis=-1)
    elif image.ndim == 3 and image.shape[-1] == 3:
        rgb = image
    else:
        raise ValueError(f"an image must be (h, w) grey or (h, w, 3) RGB, got shape {image.shape}")
    state = np.random.get_state()
    np.random.seed(seed % (2**32))
    try:
        extra = {"seed": seed % (2**32)} if corruption == "impulse_noise" else {}
        out = corrupt(rgb, severity=severity, corruption_name=corruption, **extra)
    finally:
        np.random.set_state(state)
    out = np.asarray(out)
    if out.shape[:2] != rgb.shape[:2]:  # a few corruptions return a different size at 64 px
        from PIL import Image

        out = np.asarray(Image.fromarray(np.uint8(np.clip(out, 0, 255))).resize(rgb.shape[1::-1], Image.BILINEAR))
    return to_gray(out)


def corrupt_batch(images: np.ndarray, corruptions, severities, seeds) -> np.ndarray:
    """Corrupt each image with its own corruption, severity and seed."""
    return np.stack([corrupt_image(img, c, int(s), int(seed)) for img, c, s, seed in zip(images, corruptions, severities, seeds)])


def image_seed(seed: int, index: int, corruption: str, severity: int) -> int:
    """The seed of one image's corruption: fixed by (set seed, image index, corruption, severity)."""
    mixed = np.random.SeedSequence([int(seed), int(index), CORRUPTIONS.index(corruption), int(severity)])
    return int(mixed.generate_state(1)[0])


def _corrupt_rows(images: np.ndarray, start: int, corruption: str, severity: int, seed: int) -> np.ndarray:
    return np.stack([corrupt_image(img, corruption, severity, image_seed(seed, start + i, corruption, severity))
                     for i, img in enumerate(images)])


_POOL = {"executor": None, "workers": 0}


def _executor(workers: int):
    """One process pool per process, reused across sets (starting workers costs seconds)."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if _POOL["executor"] is None or _POOL["workers"] != workers:
        if _POOL["executor"] is not None:
            _POOL["executor"].shutdown(cancel_futures=True)
        _POOL["executor"] = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"))
        _POOL["workers"] = workers
    return _POOL["executor"]


def corrupt_set(images: np.ndarray, corruption: str, severity: int, seed: int = 0, workers: int | None = None,
                progress: bool = True) -> np.ndarray:
    """Every image of a set under one corruption and severity, on ``workers`` processes
    (default: all cores). Image i gets seed ``image_seed(seed, i, ...)``, so the result is
    the same bit for bit whatever the number of workers."""
    import os

    from .progress import progress_bar

    images = np.ascontiguousarray(images, dtype=np.uint8)  # (n, h, w) grey or (n, h, w, 3) RGB
    if corruption not in CORRUPTIONS:
        raise KeyError(f"unknown corruption {corruption!r}; known: {CORRUPTIONS}")
    from .processes import usable_workers

    workers = usable_workers((os.cpu_count() or 1) if workers is None else workers, "corrupting images")
    chunk = max(1, min(64, -(-len(images) // max(1, 4 * workers))))
    starts = list(range(0, len(images), chunk))
    bar = progress_bar(total=len(images), desc=f"{corruption} {severity}", unit="img", leave=False, disable=not progress)
    out = np.empty(images.shape[:3], dtype=np.uint8)  # grey
    try:
        if workers <= 1:
            for s in starts:
                out[s : s + chunk] = _corrupt_rows(images[s : s + chunk], s, corruption, severity, seed)
                bar.update(len(images[s : s + chunk]))
        else:
            executor = _executor(workers)
            futures = {executor.submit(_corrupt_rows, images[s : s + chunk], s, corruption, severity, seed): s for s in starts}
            from concurrent.futures import as_completed

            for future in as_completed(futures):
                s = futures[future]
                out[s : s + chunk] = future.result()
                bar.update(len(out[s : s + chunk]))
    finally:
        bar.close()
    return out
