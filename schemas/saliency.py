"""Saliency: natural images with structured background, saliency models and their maps.

``SaliencyImageSet`` holds grayscale images at their native resolution (centre-cropped to
a square): the offline default ``skimage`` set (scikit-image's bundled photographs) or a
user's folder (``python -m populate ingest saliency-images FOLDER --name NAME``).
``SaliencyModel`` rows name a model: the offline, parameter-free spectral-residual model
(Hou & Zhang 2007), or DeepGaze II with a user-provided weights file (without one its
``make`` fails and says why). ``SaliencyMap`` stores, per image, the density, the binary
mask of the top pixels up to cumulative density 0.7, and both at 64 x 64.
"""

from __future__ import annotations

from pathlib import Path

import datajoint as dj
import numpy as np

from .connection import make_schema

schema = make_schema("saliency")

#: scikit-image's bundled photographs of objects in structured scenes (offline)
SKIMAGE_SCENES = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "clock")


class SaliencyIngestError(ValueError):
    """A saliency image import that was refused; nothing of it was stored."""


def _square_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3:
        from pipeline.corruptions import to_gray

        image = to_gray(image[..., :3])
    h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return np.ascontiguousarray(image[top : top + side, left : left + side]).astype(np.uint8)


@schema
class SaliencyImageSet(dj.Manual):
    definition = """
    # natural images with structured background (the paper's saliency analysis)
    saliency_set : varchar(32)          # e.g. skimage
    ---
    source : varchar(255)               # folder, or "scikit-image data"
    """

    class Image(dj.Part):
        definition = """
        # one image, grayscale, centre-cropped to a square, native resolution
        -> master
        image_id : int32                # index in the set
        ---
        name : varchar(96)              # file or sample name
        image : <npy@artifacts>         # (side, side) uint8
        side : int32                    # side length (px)
        """

    @classmethod
    def ingest(cls, name: str, images, source: str) -> dict:
        """Store ``images``, (name, pixels or a function that reads them) pairs, in one
        transaction, one image at a time: at most one is held at native resolution."""
        key = {"saliency_set": name}
        if not name or len(name) > 32:
            raise SaliencyIngestError(f"saliency image set name {name!r} must have 1-32 characters")
        if cls & key:
            raise SaliencyIngestError(f"saliency image set {name!r} exists already")
        images = list(images)
        if not images:
            raise SaliencyIngestError(f"saliency image set {name!r}: no images in {source}")
        with cls.connection.transaction:
            cls.insert1({**key, "source": source[:255]})
            for i, (n, pixels) in enumerate(images):
                square = _square_gray(pixels() if callable(pixels) else pixels)
                cls.Image.insert1({**key, "image_id": i, "name": n[:96], "image": square, "side": square.shape[0]})
        return {**key, "images": len(images)}

    @classmethod
    def ingest_skimage(cls, name: str = "skimage") -> dict:
        import skimage.data

        if cls & {"saliency_set": name}:
            return {"saliency_set": name}
        return cls.ingest(name, [(n, lambda n=n: getattr(skimage.data, n)()) for n in SKIMAGE_SCENES], "scikit-image data")

    @classmethod
    def ingest_folder(cls, folder, name: str) -> dict:
        from pipeline.corruptions import to_gray
        from pipeline.images.tin import ImageFormatError, read_picture

        folder = Path(folder)
        if not folder.is_dir():
            raise SaliencyIngestError(f"{folder}: not a folder")

        def reader(path):
            def read():
                try:
                    return to_gray(read_picture(path, None, formats=("JPEG", "PNG")))
                except ImageFormatError as err:
                    raise SaliencyIngestError(str(err)) from None
            return read

        # JPEG and PNG only, as documented; files are decoded one at a time inside the import
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        return cls.ingest(name, [(p.name, reader(p)) for p in paths], str(folder.resolve()))


@schema
class SaliencyModel(dj.Manual):
    definition = """
    # a saliency model
    saliency_model : varchar(32)        # e.g. spectral-residual, deepgaze2
    ---
    kind : enum('spectral_residual', 'deepgaze2')  # the implementation in pipeline.saliency
    weights_path = "" : varchar(255)    # DeepGaze II: the weights file (state dict); unused otherwise
    description = "" : varchar(255)     # free text
    """

    SPECTRAL_RESIDUAL = {"saliency_model": "spectral-residual", "kind": "spectral_residual",
                         "description": "Hou and Zhang 2007 spectral residual, parameter-free (offline default; not DeepGaze)"}


@schema
class SaliencyMap(dj.Computed):
    definition = """
    # a saliency model's maps for every image of a set
    -> SaliencyImageSet
    -> SaliencyModel
    ---
    level : float64                     # cumulative density that defines the salient pixels (0.7)
    """

    class Image(dj.Part):
        definition = """
        # one image's density and salient mask
        -> master
        -> SaliencyImageSet.Image
        ---
        density : <npy@artifacts>       # (side, side) float32, sums to 1
        mask : <npy@artifacts>          # (side, side) bool: top pixels up to cumulative density 0.7
        density_64 : <npy@artifacts>    # (64, 64) float32, sums to 1
        mask_64 : <npy@artifacts>       # (64, 64) bool, the mask resized
        salient_fraction : float64      # share of the 64 x 64 pixels marked salient
        """

    LEVEL = 0.7

    def make_fetch(self, key):
        return ((SaliencyModel & key).fetch1("kind", "weights_path"),)

    def make_compute(self, key, model):
        from pipeline import saliency as sal  # here, not at the top: status, gc and ingest's checks start without scipy

        kind, weights = model
        rows = []
        for image in (SaliencyImageSet.Image & key).to_dicts(order_by="image_id"):
            pixels = np.asarray(image["image"])
            density = sal.spectral_residual(pixels) if kind == "spectral_residual" else sal.deepgaze2(pixels, weights)
            mask = sal.salient_mask(density, self.LEVEL)
            small = sal.resize(density)
            mask_64 = sal.resize_mask(mask)
            rows.append({**key, "image_id": image["image_id"], "density": density.astype(np.float32), "mask": mask,
                         "density_64": (small / small.sum()).astype(np.float32), "mask_64": mask_64,
                         "salient_fraction": float(mask_64.mean())})
        return (rows,)

    def make_insert(self, key, rows):
        self.insert1({**key, "level": self.LEVEL})
        self.Image.insert(rows)
