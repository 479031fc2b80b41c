"""Neural performance measures, NaN-aware, per unit.

``fev`` is the fraction of a unit's response variance that is explainable (not trial-to-
trial noise); ``fev_e`` the fraction of the explainable variance a model explains
(neuralpredictors' FEVe); ``ceiling`` the correlation of the true rates with the
single-trial responses, known only for the virtual monkey.
"""

from __future__ import annotations

import numpy as np


def corr(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-column Pearson correlation over rows, ignoring rows where either is NaN."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    valid = ~(np.isnan(x) | np.isnan(y))
    out = np.full(x.shape[1], np.nan)
    for u in range(x.shape[1]):
        a, b = x[valid[:, u], u], y[valid[:, u], u]
        if len(a) > 1 and a.std() > 0 and b.std() > 0:
            out[u] = np.corrcoef(a, b)[0, 1]
    return out


def group_repeats(responses: np.ndarray, image_ids: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """(unique images, [per image: (repeats, units)])."""
    unique = np.unique(image_ids)
    return unique, [responses[image_ids == i] for i in unique]


def explainable_fraction(responses: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """FEV of the data: (total variance - noise variance) / total variance, per unit."""
    _, groups = group_repeats(responses, image_ids)
    total = np.nanvar(responses, axis=0, ddof=1)
    noise = np.nanmean(np.stack([np.nanvar(g, axis=0, ddof=1) for g in groups]), axis=0)
    return (total - noise) / total


def fev_e(responses: np.ndarray, predictions: np.ndarray, image_ids: np.ndarray) -> np.ndarray:
    """Fraction of explainable variance explained: 1 - (MSE - noise var) / (total var - noise var)."""
    _, groups = group_repeats(responses, image_ids)
    total = np.nanvar(responses, axis=0, ddof=1)
    noise = np.nanmean(np.stack([np.nanvar(g, axis=0, ddof=1) for g in groups]), axis=0)
    mse = np.nanmean((responses - predictions) ** 2, axis=0)
    return 1 - (mse - noise) / (total - noise)


#: the unit selection of Cadena et al. 2019: an explainable fraction of variance of at least 0.15
FEV_SELECTION = 0.15


def selected_units(fev: np.ndarray, threshold: float = FEV_SELECTION) -> np.ndarray:
    """Which units pass Cadena et al.'s criterion (explainable fraction >= ``threshold``);
    a unit whose FEV is undefined (NaN) does not."""
    fev = np.asarray(fev, dtype=float)
    return np.isfinite(fev) & (fev >= threshold)
