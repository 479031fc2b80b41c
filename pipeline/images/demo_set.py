"""A small image set in the Tiny ImageNet layout, for the demo: object shapes in natural-looking scenes.

Each class is a shape (disc, ring, square, triangle, cross, bar, star, ...) drawn with a
texture of its own over a 1/f-textured, cluttered background, with random position, size,
rotation, contrast and luminance. A small VGG learns it in a few CPU minutes, and
corruptions (noise, blur, contrast) hurt it as they hurt natural images. The shape and the
background each get a random hue whose luma is the grey image, so the colour carries no
class information but corruptions that act on colour (brightness, fog, frost, snow,
contrast) see real RGB pixels. Most files are written as RGB JPEGs and some as grayscale,
as in the real set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from ..recordings.stimuli import _pink_noise

SHAPES = ("disc", "ring", "square", "triangle", "cross", "bar", "star", "crescent", "diamond", "checker")


def _shape_mask(shape: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    r = np.sqrt(u**2 + v**2)
    angle = np.arctan2(v, u)
    if shape == "disc":
        return r <= 1
    if shape == "ring":
        return (r <= 1) & (r >= 0.6)
    if shape == "square":
        return (np.abs(u) <= 0.8) & (np.abs(v) <= 0.8)
    if shape == "triangle":
        return (v >= -0.7) & (v <= 0.9 - 1.6 * np.abs(u) * 1.0) & (np.abs(u) <= 1)
    if shape == "cross":
        return ((np.abs(u) <= 0.25) & (np.abs(v) <= 1)) | ((np.abs(v) <= 0.25) & (np.abs(u) <= 1))
    if shape == "bar":
        return (np.abs(u) <= 1.1) & (np.abs(v) <= 0.3)
    if shape == "star":
        return r <= 0.55 + 0.45 * np.cos(5 * angle) ** 2
    if shape == "crescent":
        return (r <= 1) & (np.sqrt((u - 0.45) ** 2 + v**2) > 0.75)
    if shape == "diamond":
        return np.abs(u) + np.abs(v) <= 1
    if shape == "checker":
        return (np.abs(u) <= 0.9) & (np.abs(v) <= 0.9) & ((np.floor(u * 2.2) + np.floor(v * 2.2)) % 2 == 0)
    raise KeyError(shape)


def render(rng: np.random.Generator, shape: str, px: int = 64) -> np.ndarray:
    background = _pink_noise(rng, 1, px)[0]
    yy, xx = (np.mgrid[0:px, 0:px] + 0.5) / px
    # clutter: a few random blobs that are none of the classes
    for _ in range(rng.integers(0, 3)):
        cy, cx = rng.uniform(0, 1, 2)
        blob = ((xx - cx) / rng.uniform(0.03, 0.1)) ** 2 + ((yy - cy) / rng.uniform(0.03, 0.1)) ** 2 <= 1
        background = np.where(blob, rng.uniform(-1.5, 1.5), background)
    cy, cx = rng.uniform(0.35, 0.65, 2)
    size = rng.uniform(0.26, 0.38)
    theta = rng.uniform(0, 2 * np.pi)
    u = ((xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)) / size
    v = (-(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)) / size
    mask = _shape_mask(shape, u, v)
    texture = 0.25 * _pink_noise(rng, 1, px)[0] + rng.choice([-1.0, 1.0]) * rng.uniform(1.8, 3.0)
    image = np.where(mask, texture, 0.6 * background)
    contrast, mean = rng.uniform(25, 55), rng.uniform(90, 165)
    grey = mean + contrast * (image - image.mean()) / (image.std() + 1e-6)
    tint = np.where(mask[..., None], _hue(rng), _hue(rng))
    return np.clip(grey[..., None] * tint, 0, 255).astype(np.uint8)  # (px, px, 3) RGB


_LUMA = np.array([0.299, 0.587, 0.114])


def _hue(rng: np.random.Generator, saturation: float = 0.35) -> np.ndarray:
    """Per-channel gains whose luma-weighted sum is 1: a colour that keeps the grey level."""
    direction = rng.uniform(-1, 1, 3)
    return 1 + saturation * (direction - direction @ _LUMA)


def write_demo_set(root: str | Path, n_classes: int = 10, train_per_class: int = 200, val_per_class: int = 50, seed: int = 0) -> Path:
    """Write the set under ``root`` (which becomes a ``tiny-imagenet-200``-style folder)."""
    if not 2 <= n_classes <= len(SHAPES):
        raise ValueError(f"n_classes={n_classes}: between 2 and {len(SHAPES)} shapes are available")
    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = [f"n{90000000 + i:08d}" for i in range(n_classes)]
    (root / "val" / "images").mkdir(parents=True, exist_ok=True)
    (root / "wnids.txt").write_text("".join(f"{w}\n" for w in wnids))
    (root / "words.txt").write_text("".join(f"{w}\t{SHAPES[i]}\n" for i, w in enumerate(wnids)))

    def save(image: np.ndarray, path: Path) -> None:
        picture = Image.fromarray(image, mode="RGB")
        if rng.random() >= 0.7:  # most real TIN files are RGB, some are grayscale
            picture = picture.convert("L")
        picture.save(path, format="JPEG", quality=90)

    for i, wnid in enumerate(wnids):
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True, exist_ok=True)
        with open(root / "train" / wnid / f"{wnid}_boxes.txt", "w") as boxes:
            for k in range(train_per_class):
                save(render(rng, SHAPES[i]), folder / f"{wnid}_{k}.JPEG")
                boxes.write(f"{wnid}_{k}.JPEG\t0\t0\t63\t63\n")
    lines = []
    for k in range(n_classes * val_per_class):
        i = k % n_classes
        name = f"val_{k}.JPEG"
        save(render(rng, SHAPES[i]), root / "val" / "images" / name)
        lines.append(f"{name}\t{wnids[i]}\t0\t0\t63\t63\n")
    (root / "val" / "val_annotations.txt").write_text("".join(lines))
    return root
