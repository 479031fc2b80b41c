"""Corrupted copies of augmented training images, made in the background while the model trains.

The Oracle's stage 1 trains on clean and corrupted images. As in the authors' pipeline, a
corrupted training image is ``grey(corrupt(augment(rgb)))``: the random crop, flip and
rotation come first, then the corruption on the RGB image, then ITU-R 601-2 luma. Each
image gets one augmentation per block and two copies under two different corruptions (at
random severities) of that same augmented view, so the conv3_1 consistency term compares
corruptions, not crops.

Corrupting on the fly would stall the device on the CPU-bound ``imagecorruptions`` code,
so the copies for the next block of epochs are made by worker processes while the current
block trains. Block ``r`` is fully determined by (seed, r): a resumed run gets exactly the
pools of an uninterrupted one, whatever the number of workers.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing as mp
import os
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np
import torch

from ..corruptions import SEVERITIES, TIN_TC, corrupt_image
from ..processes import why_no_spawn_pool
from .augment import AugmentationParams, apply_geometry, draw_params_numpy

log = logging.getLogger(__name__)

# keeps the validation stream apart from every training block's stream
_VALIDATION_STREAM = 2**31 - 1


@dataclasses.dataclass
class BlockPlan:
    corruptions: np.ndarray  # (n, copies) index into TIN_TC; copies of an image differ
    severities: np.ndarray  # (n, copies) 1-5
    seeds: np.ndarray  # (n, copies) per-image corruption seeds
    augmentation: AugmentationParams | None  # one draw per image, shared by its copies; None: not augmented


def plan(n_images: int, copies: int, seed: int, block: int, augmentation: dict | None = None) -> BlockPlan:
    """Everything random about block ``block``, from (seed, block) alone.

    ``augmentation``: ``{"padding": 4, "max_degrees": 15, "flip": True}`` or None.
    """
    rng = np.random.default_rng([int(seed), int(block), 7919])
    corruptions = np.stack([rng.choice(len(TIN_TC), copies, replace=False) for _ in range(n_images)])
    severities = rng.integers(1, len(SEVERITIES) + 1, (n_images, copies))
    seeds = rng.integers(0, 2**31 - 1, (n_images, copies))
    params = draw_params_numpy(n_images, rng=rng, **augmentation) if augmentation else None
    return BlockPlan(corruptions, severities, seeds, params)


def validation_plan(n_images: int, seed: int) -> BlockPlan:
    """One corruption per validation image, not augmented: the stage-1 model selection set."""
    return plan(n_images, 1, seed, _VALIDATION_STREAM, augmentation=None)


def as_rgb(images: np.ndarray) -> np.ndarray:
    """(n, h, w) grey or (n, h, w, 3) RGB uint8 -> (n, h, w, 3); grey is replicated, as a grey JPEG is."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8, got {images.dtype}")
    if images.ndim == 3:
        return np.repeat(images[..., None], 3, axis=-1)
    if images.ndim == 4 and images.shape[-1] == 3:
        return images
    raise ValueError(f"images must be (n, h, w) or (n, h, w, 3), got shape {images.shape}")


def augment_rgb(rgb: np.ndarray, params: AugmentationParams | None, padding: int) -> np.ndarray:
    """(n, h, w, 3) uint8 cropped, flipped and rotated as ``params`` says (the training geometry)."""
    if params is None:
        return rgb
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(0, 3, 1, 2)
    out = np.empty_like(rgb)
    for start in range(0, len(rgb), 1024):
        part = AugmentationParams(*(t[start : start + 1024] for t in (params.shift, params.mirror, params.angle)))
        out[start : start + 1024] = apply_geometry(x[start : start + 1024], part, padding).permute(0, 2, 3, 1).to(torch.uint8).numpy()
    return out


def _corrupt_chunk(rgb: np.ndarray, corruptions: np.ndarray, severities: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """(n, h, w, 3) RGB -> (n, copies, h, w) grey corrupted copies."""
    out = np.empty((len(rgb), corruptions.shape[1]) + rgb.shape[1:3], dtype=np.uint8)
    for i in range(len(rgb)):
        for k in range(corruptions.shape[1]):
            out[i, k] = corrupt_image(rgb[i], TIN_TC[corruptions[i, k]], int(severities[i, k]), int(seeds[i, k]))
    return out


def make_copies(rgb: np.ndarray, block_plan: BlockPlan, padding: int, executor: ProcessPoolExecutor | None = None) -> np.ndarray | list:
    """The block's copies (n, copies, h, w), or futures of its chunks when an executor is given."""
    views = augment_rgb(rgb, block_plan.augmentation, padding)
    p = block_plan
    if executor is None:
        return _corrupt_chunk(views, p.corruptions, p.severities, p.seeds)
    chunks = np.array_split(np.arange(len(views)), max(1, min(len(views), 8 * (executor._max_workers or 1))))
    return [executor.submit(_corrupt_chunk, views[c], p.corruptions[c], p.severities[c], p.seeds[c]) for c in chunks if len(c)]


class CorruptionPool:
    """``get(block)`` returns (n_images, copies, h, w) uint8 grey; block ``r + 1`` is prepared meanwhile.

    ``images``: (n, h, w) grey or (n, h, w, 3) RGB uint8 (corrupted as RGB, as the authors do).
    ``augmentation``: the training geometry applied before corrupting, or None.
    """

    def __init__(self, images: np.ndarray, copies: int = 2, seed: int = 0, workers: int | None = None,
                 augmentation: dict | None = None):
        self.rgb, self.copies, self.seed = np.ascontiguousarray(as_rgb(images)), copies, seed
        self.augmentation = dict(augmentation) if augmentation else None
        self.padding = int(self.augmentation["padding"]) if self.augmentation else 0
        workers = workers if workers is not None else max(1, (os.cpu_count() or 2) - 1)
        reason = why_no_spawn_pool() if workers > 0 else None
        if reason is not None:
            # in this process, block by block: the same copies (each has its own seed), slower
            log.warning("the Oracle's corruption pool runs in this process: %s (run it as a file or with python -m)", reason)
            workers = 0
        self.executor = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) if workers > 0 else None
        self._pending: dict[int, list[Future]] = {}

    def plan(self, block: int) -> BlockPlan:
        return plan(len(self.rgb), self.copies, self.seed, block, self.augmentation)

    def _start(self, block: int) -> None:
        if self.executor is not None and block not in self._pending:
            self._pending[block] = make_copies(self.rgb, self.plan(block), self.padding, self.executor)

    def get(self, block: int) -> np.ndarray:
        if self.executor is None:
            return make_copies(self.rgb, self.plan(block), self.padding)
        self._start(block)
        futures = self._pending.pop(block)
        self._start(block + 1)  # the next block is corrupted while this one trains
        return np.concatenate([f.result() for f in futures])

    def corrupted_validation(self, images: np.ndarray) -> np.ndarray:
        """(n, h, w) grey: each validation image under one seeded corruption, not augmented."""
        rgb = as_rgb(images)
        p = validation_plan(len(rgb), self.seed)
        if self.executor is None:
            return make_copies(rgb, p, 0)[:, 0]
        return np.concatenate([f.result() for f in make_copies(rgb, p, 0, self.executor)])[:, 0]

    def close(self) -> None:
        if self.executor is not None:
            for futures in self._pending.values():
                for f in futures:
                    f.cancel()
            self.executor.shutdown(wait=False, cancel_futures=True)
