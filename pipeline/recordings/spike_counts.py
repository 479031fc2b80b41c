"""Spike counts in a response window after each image onset, from fine-binned trial counts."""

from __future__ import annotations

import numpy as np


class WindowError(ValueError):
    """A response window that the recorded bins cannot provide exactly."""


def window_bins(onset_ms: float, window: tuple[float, float], bin_width_ms: float, bin_origin_ms: float, n_bins: int) -> slice:
    """The bins that make up [onset + start, onset + end); they must align with bin edges."""
    start, end = window
    if not end > start:
        raise WindowError(f"response window {start}-{end} ms is empty")
    first = (onset_ms + start - bin_origin_ms) / bin_width_ms
    last = (onset_ms + end - bin_origin_ms) / bin_width_ms
    if not (float(first).is_integer() and float(last).is_integer()):
        raise WindowError(
            f"response window {start}-{end} ms does not fall on the {bin_width_ms} ms bin edges "
            f"(bins start {bin_origin_ms} ms after the first onset)"
        )
    if first < 0 or last > n_bins:
        raise WindowError(
            f"response window {start}-{end} ms after an onset at {onset_ms} ms needs bins {int(first)}-{int(last)}, "
            f"but the recording has bins 0-{n_bins} starting {bin_origin_ms} ms after the first onset"
        )
    return slice(int(first), int(last))


def window_counts(
    spikes: np.ndarray,
    trial_images: list[list[int]],
    window: tuple[float, float],
    bin_width_ms: float,
    bin_origin_ms: float,
    image_duration_ms: float,
) -> dict:
    """Counts per presentation: ``counts`` (presentations, units), ``image_ids``, ``trial``, ``position``.

    A NaN bin makes the count NaN: that unit was not recorded on that presentation.
    """
    n_trials, n_units, n_bins = spikes.shape
    counts, image_ids, trial_index, position = [], [], [], []
    for t, images in enumerate(trial_images):
        for k, image_id in enumerate(images):
            bins = window_bins(k * image_duration_ms, window, bin_width_ms, bin_origin_ms, n_bins)
            counts.append(spikes[t, :, bins].sum(axis=-1))
            image_ids.append(image_id)
            trial_index.append(t)
            position.append(k)
    return {
        "counts": np.asarray(counts, dtype=np.float32).reshape(-1, n_units),
        "image_ids": np.asarray(image_ids, dtype=np.int32),
        "trial": np.asarray(trial_index, dtype=np.int32),
        "position": np.asarray(position, dtype=np.int16),
    }
