"""Reading the released Tiny-ImageNet-C layout (Hendrycks & Dietterich) into grayscale arrays.

    <root>/<corruption>/<severity>/<wnid>/*.JPEG

Corruption folder names are the ImageNet-C names (``gaussian_noise``, ...); severities are
1-5; wnids must be classes of the image dataset it is evaluated against. The released set
is milder than TIN-TC (it was made at 64 px with adjusted parameters). Every problem is an
error that names the file or folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..corruptions import CORRUPTIONS, SEVERITIES, to_gray
from .tin import ImageFormatError, _read_jpeg


@dataclasses.dataclass
class CorruptedSplit:
    images: np.ndarray  # (n, h, w) uint8 grayscale
    labels: np.ndarray  # (n,) int16 class index
    files: list[str]  # relative to the root


def read_tiny_imagenet_c(root: str | Path, wnids: list[str], image_px: int = 64) -> dict[tuple[str, int], CorruptedSplit]:
    """(corruption, severity) -> images; ``wnids`` gives the class index of each wnid."""
    root = Path(root)
    if not root.is_dir():
        raise ImageFormatError(f"{root}: not a folder")
    index = {w: i for i, w in enumerate(wnids)}
    found = sorted(p for p in root.iterdir() if p.is_dir())
    if not found:
        raise ImageFormatError(f"{root}: no corruption folders (expected <corruption>/<severity>/<wnid>/*.JPEG)")
    sets = {}
    for folder in found:
        if folder.name not in CORRUPTIONS:
            raise ImageFormatError(f"{folder}: unknown corruption {folder.name!r}; known: {', '.join(CORRUPTIONS)}")
        for level in sorted(p for p in folder.iterdir() if p.is_dir()):
            if not level.name.isdigit() or int(level.name) not in SEVERITIES:
                raise ImageFormatError(f"{level}: severity folder must be one of {SEVERITIES}")
            images, labels, files = [], [], []
            for class_dir in sorted(p for p in level.iterdir() if p.is_dir()):
                if class_dir.name not in index:
                    raise ImageFormatError(f"{class_dir}: wnid {class_dir.name!r} is not a class of the image dataset")
                for path in sorted(class_dir.glob("*.JPEG")):
                    images.append(to_gray(_read_jpeg(path, (image_px, image_px))))  # the released set is RGB; the models see grey
                    labels.append(index[class_dir.name])
                    files.append(str(path.relative_to(root)))
            if not images:
                raise ImageFormatError(f"{level}: no images")
            sets[(folder.name, int(level.name))] = CorruptedSplit(np.stack(images), np.array(labels, dtype=np.int16), files)
    return sets


def write_tiny_imagenet_c(root: str | Path, images: np.ndarray, labels: np.ndarray, wnids: list[str], corruptions, severities,
                          seed: int = 0) -> Path:
    """Write a set in the released layout by corrupting ``images`` (for tests and the demo)."""
    from PIL import Image

    from ..corruptions import corrupt_set

    root = Path(root)
    for corruption in corruptions:
        for severity in severities:
            corrupted = corrupt_set(images, corruption, severity, seed=seed, workers=1, progress=False)
            for i, (image, label) in enumerate(zip(corrupted, labels)):
                folder = root / corruption / str(severity) / wnids[int(label)]
                folder.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(folder / f"{wnids[int(label)]}_{i}.JPEG", quality=85)
    return root
