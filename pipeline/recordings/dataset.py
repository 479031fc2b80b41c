"""Tensors for training and evaluating neural predictors, built from stored arrays.

Images are held once, as uint8 (images, 64, 64); each session's presentations index into
them, so a batch is a gather on the device, not a copy per presentation.
"""

from __future__ import annotations

import numpy as np

from ..data.dataloaders import NeuralData

SPLITS = ("train", "validation", "test")


def split_image_ids(train_ids, test_ids, validation_fraction: float, seed: int) -> dict[int, str]:
    """image id -> "train" / "validation" / "test": a seeded share of the training images
    becomes validation, the same for every session."""
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction={validation_fraction} must lie strictly between 0 and 1")
    train_ids = np.sort(np.asarray(train_ids))
    rng = np.random.default_rng(seed)
    n_val = int(round(validation_fraction * len(train_ids)))
    validation = set(rng.choice(train_ids, n_val, replace=False).tolist())
    roles = {int(i): ("validation" if int(i) in validation else "train") for i in train_ids}
    roles.update({int(i): "test" for i in test_ids})
    return roles


def neural_dataloaders(
    images: np.ndarray,
    image_ids: np.ndarray,
    roles: dict[int, str],
    sessions: dict[str, tuple[np.ndarray, np.ndarray]],
) -> NeuralData:
    """``sessions`` maps a session name to (counts (presentations, units), image id per presentation).

    Returns the images (uint8 tensor), ``image_px``, ``image_mean``/``image_std`` of the
    training images (pixels in [0, 1]), ``mean_responses`` per session, and per session and
    split a pair (image row per presentation, responses).
    """
    import torch  # here, not at the top: the tables import this module; status, gc and ingest start without torch

    row_of = {int(i): r for r, i in enumerate(np.asarray(image_ids).tolist())}
    train_rows = np.array([row_of[i] for i, role in roles.items() if role == "train" and i in row_of])
    if len(train_rows) == 0:
        raise ValueError("the dataset has no training images")
    pixels = images[train_rows].astype(np.float64) / 255.0
    by_session, mean_responses = {}, {}
    for name, (counts, presented) in sessions.items():
        unknown = set(np.unique(presented).tolist()) - set(roles)
        if unknown:
            raise ValueError(f"session {name}: presentations of images outside the dataset: {sorted(unknown)[:5]}")
        split_of = np.array([roles[int(i)] for i in presented])
        rows = np.array([row_of[int(i)] for i in presented])
        by_session[name] = {
            split: (torch.from_numpy(rows[split_of == split]).long(), torch.from_numpy(np.ascontiguousarray(counts[split_of == split])).float())
            for split in SPLITS
        }
        mean_responses[name] = torch.from_numpy(np.nanmean(counts[split_of == "train"], axis=0)).float()
    return NeuralData(
        images=torch.from_numpy(np.ascontiguousarray(images)),
        image_ids=torch.from_numpy(np.asarray(image_ids, dtype=np.int64)),
        image_px=int(images.shape[-1]),
        image_mean=float(pixels.mean()),
        image_std=float(pixels.std()),
        sessions=by_session,
        mean_responses=mean_responses,
    )
