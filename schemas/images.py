"""Image classification datasets: Tiny ImageNet (or the demo set in its layout) as tables.

One row per image (split, index, class, file name) makes a dataset queryable in SQL; the
pixels of each split are one uint8 array in the object store. Classification trains and
tests on the grey pixels; the RGB pixels of each split are kept too (``ImageDataset.Colour``)
because the authors corrupt RGB and then convert to grey: TIN-TC corrupts the RGB test
split, the Oracle's pool the RGB train split. An import is one transaction: if any file is
bad, nothing is kept.
"""

from __future__ import annotations

from pathlib import Path

import datajoint as dj
import numpy as np

from pipeline.data.dataloaders import ClassificationData, Split
from pipeline.images.tin import ImageSet

from .connection import make_schema

schema = make_schema("images")


class ImageIngestError(ValueError):
    """An image import that was refused; nothing of it was stored."""


@schema
class ImageDataset(dj.Manual):
    definition = """
    # an image classification dataset in the Tiny ImageNet layout (grey for the models, RGB kept for corruptions)
    image_dataset : varchar(32)          # name given at import
    ---
    source_path : varchar(255)           # folder it was imported from
    n_classes : int16                    # number of classes
    image_px : int16                     # side of the (square) images (px)
    validation_fraction : float32        # share of TIN train held out as validation (seeded)
    split_seed : int32                   # seed of that split
    pixel_mean : float32                 # mean of the training pixels, in [0, 1]
    pixel_std : float32                  # standard deviation of the training pixels, in [0, 1]
    imported_at = CURRENT_TIMESTAMP : datetime  # server time of the import
    """

    class Class(dj.Part):
        definition = """
        # a class of the dataset
        -> master
        class_index : int16              # label used by the models
        ---
        wnid : varchar(16)               # WordNet id, e.g. n01443537
        words = "" : varchar(255)        # human-readable name from words.txt
        """

    class Split(dj.Part):
        definition = """
        # the pixels of one split
        -> master
        split : enum('train', 'validation', 'test')  # validation = held-out TIN train; test = TIN val
        ---
        images : <npy@artifacts>         # (n, px, px) uint8 grayscale
        labels : <npy@artifacts>         # (n,) int16 class index
        n_images : int32                 # images in the split
        """

    class Colour(dj.Part):
        definition = """
        # the RGB pixels of one split, for corrupting it as the authors do (RGB, then luma)
        -> master.Split
        ---
        rgb : <npy@artifacts>            # (n, px, px, 3) uint8 RGB; grayscale source files replicated to 3 channels
        """

    class Image(dj.Part):
        definition = """
        # one image, for queries
        -> master.Split
        image_index : int32              # row in the split's arrays
        ---
        class_index : int16              # label
        file_name : varchar(96)          # path relative to the dataset folder
        """

    def data_description(self, key) -> tuple[str, dict]:
        row = (ImageDataset & key).fetch1()
        return "image_dataset", {"image_dataset": row["image_dataset"], "n_classes": int(row["n_classes"]),
                                 "split_seed": int(row["split_seed"])}

    def build(self, key, seed: int | None = None) -> ClassificationData:
        """uint8 tensors per split, labels, class count and pixel statistics.

        A worker loads the same dataset for many jobs (every evaluation and reconstruction
        rebuilds a model from it), so the last one read is kept in memory. It is keyed by
        name and import time: an imported dataset never changes, and a re-import under the
        same name has a new time.
        """
        import torch  # here, not at the top: status, gc and ingest's checks start without torch

        key = {"image_dataset": (ImageDataset & key).fetch1("image_dataset")}
        row = (ImageDataset & key).fetch1()
        cache_key = (self.full_table_name, row["image_dataset"], str(row["imported_at"]))
        if _BUILT.get("key") != cache_key:
            splits = {split["split"]: Split(torch.from_numpy(np.asarray(split["images"])),
                                            torch.from_numpy(np.asarray(split["labels"]).astype(np.int64)))
                      for split in (ImageDataset.Split & key).to_dicts()}
            data = ClassificationData(**splits, n_classes=int(row["n_classes"]), image_mean=float(row["pixel_mean"]),
                                      image_std=float(row["pixel_std"]))
            _BUILT.update(key=cache_key, data=data)
        return _BUILT["data"]  # frozen: callers add fields with .replace(); the tensors are shared, read only


    def rgb(self, key, split: str) -> np.ndarray:
        """(n, px, px, 3) uint8 RGB pixels of one split, in the split's image order."""
        name = (ImageDataset & key).fetch1("image_dataset")
        row = ImageDataset.Colour & {"image_dataset": name, "split": split}
        if not row:
            raise ImageIngestError(
                f"image dataset {name!r} has no RGB pixels for split {split!r} (imported before they were kept); "
                "import it again under a new name to corrupt RGB as the authors do"
            )
        return np.asarray(row.fetch1("rgb"))


_BUILT: dict = {}


def ingest_image_set(image_set: ImageSet, name: str, source_path: str | Path, validation_fraction: float, split_seed: int) -> dict:
    """Store a read image set in one transaction."""
    key = {"image_dataset": name}
    if not name or len(name) > 32:
        raise ImageIngestError(f"image dataset name {name!r} must have 1-32 characters")
    if ImageDataset & key:
        raise ImageIngestError(f"image dataset {name!r} exists already")
    px = int(image_set.splits["train"].images.shape[-1])
    with ImageDataset.connection.transaction:
        ImageDataset.insert1({**key, "source_path": str(Path(source_path).resolve())[:255], "n_classes": len(image_set.wnids),
                              "image_px": px, "validation_fraction": validation_fraction, "split_seed": split_seed,
                              "pixel_mean": image_set.pixel_mean, "pixel_std": image_set.pixel_std})
        ImageDataset.Class.insert([{**key, "class_index": i, "wnid": w, "words": words[:255]}
                                   for i, (w, words) in enumerate(zip(image_set.wnids, image_set.words))])
        for split, data in image_set.splits.items():
            ImageDataset.Split.insert1({**key, "split": split, "images": data.images, "labels": data.labels.astype(np.int16),
                                        "n_images": len(data.labels)})
            if data.rgb is not None:
                if data.rgb.shape != data.images.shape + (3,) or data.rgb.dtype != np.uint8:
                    raise ImageIngestError(f"split {split!r}: RGB pixels of shape {data.rgb.shape} do not match grey {data.images.shape}")
                ImageDataset.Colour.insert1({**key, "split": split, "rgb": data.rgb})
            ImageDataset.Image.insert([{**key, "split": split, "image_index": i, "class_index": int(label), "file_name": f[:96]}
                                       for i, (label, f) in enumerate(zip(data.labels, data.files))])
    return key
