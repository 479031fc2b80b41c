"""Corruptions as data: the ImageNet-C corruptions and severities, TIN-TC materialised once,
and imported Tiny-ImageNet-C sets.

A ``CorruptionSource`` is a set of corrupted test images for one image dataset: either
``tin-tc`` (the test split corrupted here with ``imagecorruptions`` at 64 px, one
``CorruptionSet`` row per split, corruption and severity, seeded per image) or
``tiny-imagenet-c`` (the released set, imported with ``populate ingest tiny-imagenet-c``).
Every evaluation reads the stored images; nothing is corrupted on the fly.
"""

from __future__ import annotations

import datajoint as dj
import numpy as np

from pipeline.corruptions import CATEGORIES, LEFT_OUT_OF_TIN_TC, SEVERITIES, TIN_TC, corrupt_set

from .connection import make_schema
from .images import ImageDataset

schema = make_schema("corruption")


@schema
class Corruption(dj.Lookup):
    definition = """
    # the 15 ImageNet-C corruptions (Hendrycks and Dietterich 2019)
    corruption : varchar(24)            # imagecorruptions name, e.g. gaussian_noise
    ---
    category : enum('noise', 'blur', 'weather', 'digital')  # ImageNet-C category
    in_tin_tc : bool                    # part of TIN-TC (the paper leaves out glass blur)
    """
    contents = [(name, category, name not in LEFT_OUT_OF_TIN_TC) for category, names in CATEGORIES.items() for name in names]


@schema
class Severity(dj.Lookup):
    definition = """
    # ImageNet-C severity levels
    severity : int16                    # 1 (mild) to 5 (severe)
    """
    contents = [(s,) for s in SEVERITIES]


@schema
class CorruptionSource(dj.Manual):
    definition = """
    # a set of corrupted test images of an image dataset
    -> ImageDataset
    corruption_source : varchar(32)     # e.g. tin-tc, tiny-imagenet-c
    ---
    kind : enum('tin-tc', 'tiny-imagenet-c')  # generated here, or the released set imported
    seed = 0 : int32                    # seed of the per-image corruption seeds (tin-tc)
    source_path = "" : varchar(255)     # folder it was imported from (tiny-imagenet-c)
    """

    class Imported(dj.Part):
        definition = """
        # one corruption and severity of an imported set
        -> master
        -> Corruption
        -> Severity
        ---
        images : <npy@artifacts>        # (n, px, px) uint8 grayscale
        labels : <npy@artifacts>        # (n,) int16 class index
        n_images : int32                # images in the set
        """

    @classmethod
    def tin_tc(cls, image_dataset: str, seed: int = 0) -> dict:
        """The TIN-TC source of a dataset (added if missing); its sets are made by populate."""
        key = {"image_dataset": image_dataset, "corruption_source": "tin-tc"}
        cls.insert1({**key, "kind": "tin-tc", "seed": seed}, skip_duplicates=True)
        return key

    @staticmethod
    def conditions(key) -> list[tuple[str, int]]:
        """The (corruption, severity) pairs a source holds."""
        if (CorruptionSource & key).fetch1("kind") == "tin-tc":
            return [(c, s) for c in TIN_TC for s in SEVERITIES]
        rows = (CorruptionSource.Imported & key).to_dicts(order_by=("corruption", "severity"))
        return [(r["corruption"], int(r["severity"])) for r in rows]

    @staticmethod
    def complete() -> list:
        """The sources whose every condition is there, as a restriction (an OR of two queries):
        TIN-TC sources with all their sets made, imported sources with their sets."""
        made = ((CorruptionSource & "kind = 'tin-tc'").aggr(CorruptionSet, n_sets="count(*)", exclude_nonmatching=True)
                & f"n_sets = {len(TIN_TC) * len(SEVERITIES)}")
        imported = (CorruptionSource & "kind != 'tin-tc'") & CorruptionSource.Imported.proj()
        return [made.proj(), imported.proj()]

    @staticmethod
    def load(key, corruption: str, severity: int) -> tuple[np.ndarray, np.ndarray]:
        """(images, labels) of one condition."""
        condition = {**key, "corruption": corruption, "severity": severity}
        if (CorruptionSource & key).fetch1("kind") == "tin-tc":
            images = np.asarray((CorruptionSet & condition).fetch1("images"))
            labels = np.asarray((ImageDataset.Split & key & {"split": "test"}).fetch1("labels"))
            return images, labels
        row = (CorruptionSource.Imported & condition).fetch1()
        return np.asarray(row["images"]), np.asarray(row["labels"])


@schema
class CorruptionSet(dj.Computed):
    definition = """
    # TIN-TC: a dataset's test split (TIN val) under one corruption and severity, made once: grey(corrupt(rgb))
    -> CorruptionSource
    -> Corruption
    -> Severity
    ---
    images : <npy@artifacts>            # (n, px, px) uint8, rows in the split's image order
    n_images : int32                    # images in the set
    mean_abs_change : float32           # mean absolute pixel change from the clean images (grey levels)
    """

    @property
    def key_source(self):
        sources = CorruptionSource & {"kind": "tin-tc"}
        # the split is not part of the key: a split enum in a key breaks jobs tables on
        # PostgreSQL in DataJoint 2.3.5, and TIN-TC is the test split by definition
        return sources.proj() * (Corruption & {"in_tin_tc": True}).proj() * Severity.proj()

    def make_fetch(self, key):
        return (int((CorruptionSource & key).fetch1("seed")),)

    def make_compute(self, key, seed):
        # the authors corrupt the RGB image and convert the result to grey (ITU-R 601-2 luma)
        rgb = ImageDataset().rgb(key, "test")
        clean = np.asarray((ImageDataset.Split & key & {"split": "test"}).fetch1("images"))
        corrupted = corrupt_set(rgb, key["corruption"], int(key["severity"]), seed=seed)
        change = float(np.abs(corrupted.astype(np.int16) - clean.astype(np.int16)).mean())
        return corrupted, change

    def make_insert(self, key, corrupted, change):
        self.insert1({**key, "images": corrupted, "n_images": len(corrupted), "mean_abs_change": change})


def ingest_tiny_imagenet_c(path, name: str, image_dataset: str) -> dict:
    """Import a Tiny-ImageNet-C folder as a corruption source of ``image_dataset``, all or nothing."""
    from pathlib import Path

    from pipeline.images.tin_c import read_tiny_imagenet_c

    from .images import ImageIngestError

    if not (ImageDataset & {"image_dataset": image_dataset}):
        raise ImageIngestError(f"image dataset {image_dataset!r} does not exist; import it first")
    key = {"image_dataset": image_dataset, "corruption_source": name}
    if not name or len(name) > 32:
        raise ImageIngestError(f"corruption source name {name!r} must have 1-32 characters")
    if CorruptionSource & key:
        raise ImageIngestError(f"corruption source {name!r} of {image_dataset!r} exists already")
    wnids = (ImageDataset.Class & {"image_dataset": image_dataset}).to_arrays("wnid", order_by="class_index").tolist()
    px = int((ImageDataset & {"image_dataset": image_dataset}).fetch1("image_px"))
    sets = read_tiny_imagenet_c(path, wnids, image_px=px)
    with CorruptionSource.connection.transaction:
        CorruptionSource.insert1({**key, "kind": "tiny-imagenet-c", "source_path": str(Path(path).resolve())[:255]})
        for (corruption, severity), data in sets.items():
            CorruptionSource.Imported.insert1({**key, "corruption": corruption, "severity": severity, "images": data.images,
                                               "labels": data.labels, "n_images": len(data.labels)})
    return {**key, "conditions": len(sets), "images": int(sum(len(d.labels) for d in sets.values()))}
