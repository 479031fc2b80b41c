"""Reading the published ``tiny-imagenet-200`` layout into grayscale (and RGB) uint8 arrays.

    wnids.txt                         the class ids, one per line
    words.txt                         wnid <tab> human-readable words
    train/<wnid>/images/*.JPEG        500 training images per class
    val/images/*.JPEG + val/val_annotations.txt   (file, wnid, bbox): 50 per class

As in the authors' code, validation is a seeded 10% of TIN train and the test set is TIN
val. The real set mixes grayscale and RGB JPEGs. Every image is read as RGB (a grayscale
file is replicated to three channels, as PIL's ``convert('RGB')`` does) and its grey pixels
are its ITU-R 601-2 luma, bit for bit PIL's ``convert('L')``. Classification trains and
tests on grey; the RGB pixels are kept because the authors corrupt RGB and then convert to
grey (TIN-TC, the Oracle's pool). Any unreadable or truncated file, unknown wnid or missing
file is an error that names it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from PIL import Image
from ..progress import progress_bar

from ..corruptions import to_gray


class ImageFormatError(ValueError):
    """A file of the layout that cannot be imported; the message names it."""


@dataclasses.dataclass
class ImageSplit:
    images: np.ndarray  # (n, h, w) uint8 grayscale: the luma of ``rgb``
    labels: np.ndarray  # (n,) int16 class index
    files: list[str]  # file name of each image, relative to the dataset root
    rgb: np.ndarray | None = None  # (n, h, w, 3) uint8; grayscale source files replicated


@dataclasses.dataclass
class ImageSet:
    wnids: list[str]
    words: list[str]
    splits: dict[str, ImageSplit]  # "train", "validation", "test"
    pixel_mean: float  # of the training split, pixels in [0, 1]
    pixel_std: float


#: the largest image side read (px); a crafted header cannot make the reader allocate more
MAX_SIDE_PX = 4096


def _read_jpeg(path: Path, size: tuple[int, int] | None) -> np.ndarray:
    """(h, w, 3) uint8 RGB pixels of one file, which must be a JPEG (the layout's format)."""
    return read_picture(path, size, formats=("JPEG",))


def read_picture(path: Path, size: tuple[int, int] | None, formats=("JPEG", "PNG")) -> np.ndarray:
    """(h, w, 3) uint8 RGB pixels of one JPEG or PNG file, whatever its name says.

    Any other format, a header larger than ``MAX_SIDE_PX`` a side, a decompression bomb or
    any decoding error is an :class:`ImageFormatError` that names the file."""
    try:
        with Image.open(path, formats=list(formats)) as image:
            if max(image.size) > MAX_SIDE_PX:
                raise ImageFormatError(f"{path}: image is {image.size[0]}x{image.size[1]} px, more than {MAX_SIDE_PX} px a side")
            image.load()  # decodes fully: a truncated file raises here
            rgb = np.asarray(image.convert("RGB"), dtype=np.uint8)
    except ImageFormatError:
        raise
    except Image.UnidentifiedImageError:
        raise ImageFormatError(f"{path}: not a {' or '.join(formats)} image") from None
    except Image.DecompressionBombError as err:
        raise ImageFormatError(f"{path}: refused as a decompression bomb ({err})") from None
    except Exception as err:  # any decoder failure: truncated, corrupt, unsupported mode
        raise ImageFormatError(f"{path}: unreadable or truncated image ({type(err).__name__}: {err})") from None
    if size is not None and rgb.shape[:2] != size:
        raise ImageFormatError(f"{path}: image is {rgb.shape[1]}x{rgb.shape[0]} px, the others are {size[1]}x{size[0]}")
    return rgb


def _read_lines(path: Path) -> list[str]:
    if not path.exists():
        raise ImageFormatError(f"{path}: file is missing")
    return [line.rstrip("\n") for line in path.read_text().splitlines() if line.strip()]


def read_tiny_imagenet(root: str | Path, validation_fraction: float = 0.1, split_seed: int = 0) -> ImageSet:
    root = Path(root)
    wnids = [w.strip() for w in _read_lines(root / "wnids.txt")]
    if len(set(wnids)) != len(wnids):
        raise ImageFormatError(f"{root / 'wnids.txt'}: repeated wnids")
    index = {w: i for i, w in enumerate(wnids)}
    words_of = {}
    words_path = root / "words.txt"
    if words_path.exists():
        for line in _read_lines(words_path):
            wnid, _, words = line.partition("\t")
            words_of[wnid.strip()] = words.strip()

    train_files, train_labels = [], []
    train_root = root / "train"
    if not train_root.is_dir():
        raise ImageFormatError(f"{train_root}: folder is missing")
    for folder in sorted(p for p in train_root.iterdir() if p.is_dir()):
        if folder.name not in index:
            raise ImageFormatError(f"{folder}: wnid {folder.name!r} is not in wnids.txt")
        files = sorted((folder / "images").glob("*.JPEG"))
        train_files += files
        train_labels += [index[folder.name]] * len(files)
    if not train_files:
        raise ImageFormatError(f"{train_root}: no training images (train/<wnid>/images/*.JPEG)")

    annotations = root / "val" / "val_annotations.txt"
    val_files, val_labels = [], []
    for number, line in enumerate(_read_lines(annotations), start=1):
        fields = line.split("\t")
        if len(fields) < 2:
            raise ImageFormatError(f"{annotations}:{number}: expected 'file<TAB>wnid<TAB>bbox', got {line!r}")
        name, wnid = fields[0].strip(), fields[1].strip()
        if wnid not in index:
            raise ImageFormatError(f"{annotations}:{number}: wnid {wnid!r} is not in wnids.txt")
        path = root / "val" / "images" / name
        if not path.exists():
            raise ImageFormatError(f"{path}: listed in {annotations.name} but missing")
        val_files.append(path)
        val_labels.append(index[wnid])

    first = _read_jpeg(train_files[0], None).shape[:2]
    train_pixels = np.stack([_read_jpeg(p, first) for p in progress_bar(train_files, desc="train images", leave=False)])
    test_pixels = np.stack([_read_jpeg(p, first) for p in progress_bar(val_files, desc="val images", leave=False)])

    rng = np.random.default_rng(split_seed)
    order = rng.permutation(len(train_files))
    n_val = int(round(validation_fraction * len(train_files)))
    val_rows, train_rows = np.sort(order[:n_val]), np.sort(order[n_val:])
    labels = np.asarray(train_labels, dtype=np.int16)
    rel = [str(p.relative_to(root)) for p in train_files]

    def split(rgb: np.ndarray, split_labels: np.ndarray, files: list[str]) -> ImageSplit:
        return ImageSplit(to_gray(rgb), split_labels, files, rgb)

    splits = {
        "train": split(train_pixels[train_rows], labels[train_rows], [rel[i] for i in train_rows]),
        "validation": split(train_pixels[val_rows], labels[val_rows], [rel[i] for i in val_rows]),
        "test": split(test_pixels, np.asarray(val_labels, dtype=np.int16), [str(p.relative_to(root)) for p in val_files]),
    }
    pixels = splits["train"].images.astype(np.float64) / 255.0
    return ImageSet(wnids, [words_of.get(w, "") for w in wnids], splits, float(pixels.mean()), float(pixels.std()))
