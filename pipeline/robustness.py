"""Robustness scores, their bootstrap, the mCE, and the robustness regression.

Paper (section 3): robustness of a family = (1/C) sum_c mean_acc_c(family) /
mean_acc_c(Baseline), with mean_acc_c the mean over severities and seeds and C = 14 TIN-TC
corruptions. Error bars by a bootstrap with 250 repetitions over images and seeds.

Arrays are per-image correctness ``correct[seed, corruption, severity, image]`` (bool), so
accuracies, resampled accuracies and the score all come from the same data.
"""

from __future__ import annotations

import numpy as np


def accuracies(correct: np.ndarray, image_weights: np.ndarray | None = None) -> np.ndarray:
    """(seeds, C, S) accuracies from (seeds, C, S, images) correctness; weights = image multiplicities."""
    correct = np.asarray(correct, dtype=np.float64)
    if image_weights is None:
        return correct.mean(-1)
    return correct @ image_weights / image_weights.sum()


def per_corruption_ratio(model_acc: np.ndarray, baseline_acc: np.ndarray) -> np.ndarray:
    """(C,) mean over seeds and severities of the model's accuracy over the Baseline's
    (NaN where the Baseline's mean accuracy is 0: the ratio is undefined)."""
    base = np.asarray(baseline_acc).mean(axis=(0, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, np.asarray(model_acc).mean(axis=(0, 2)) / np.where(base > 0, base, 1), np.nan)


def robustness_score(model_acc: np.ndarray, baseline_acc: np.ndarray) -> float:
    """The paper's score from (seeds, C, S) accuracies of a family and of the Baseline family
    (corruptions with an undefined ratio are left out)."""
    return float(np.nanmean(per_corruption_ratio(model_acc, baseline_acc)))


def mean_corruption_error(model_acc: np.ndarray, baseline_acc: np.ndarray) -> tuple[float, np.ndarray]:
    """mCE relative to the Baseline (Hendrycks & Dietterich): per corruption, the summed
    error over severities divided by the Baseline's (seed means), averaged over corruptions."""
    model_err = 1 - np.asarray(model_acc).mean(0)
    base_err = 1 - np.asarray(baseline_acc).mean(0)
    ce = model_err.sum(-1) / base_err.sum(-1)
    return float(ce.mean()), ce


def bootstrap(model_correct: np.ndarray, baseline_correct: np.ndarray, groups: dict[str, list[int]],
              repetitions: int = 250, seed: int = 0) -> dict:
    """Bootstrap over images and seeds.

    Each repetition draws the test images with replacement (the same draw for the family
    and the Baseline: they saw the same images) and, independently, each side's seeds with
    replacement. Returns the repetitions' overall scores, per-corruption ratios and
    per-group (category) scores: ``{"score": (R,), "corruption": (R, C), "group": {name: (R,)}}``.
    """
    model_correct = np.asarray(model_correct, dtype=np.float64)
    baseline_correct = np.asarray(baseline_correct, dtype=np.float64)
    n_images = model_correct.shape[-1]
    if baseline_correct.shape[-1] != n_images:
        raise ValueError(f"the family was evaluated on {n_images} images, the Baseline on {baseline_correct.shape[-1]}")
    rng = np.random.default_rng(seed)
    scores, ratios = [], []
    for _ in range(repetitions):
        weights = np.bincount(rng.integers(0, n_images, n_images), minlength=n_images).astype(np.float64)
        m = rng.integers(0, model_correct.shape[0], model_correct.shape[0])
        b = rng.integers(0, baseline_correct.shape[0], baseline_correct.shape[0])
        ratio = per_corruption_ratio(accuracies(model_correct[m], weights), accuracies(baseline_correct[b], weights))
        ratios.append(ratio)
        scores.append(np.nanmean(ratio) if np.isfinite(ratio).any() else np.nan)
    ratios = np.array(ratios)
    return {"score": np.array(scores), "corruption": ratios,
            "group": {name: _nanmean_rows(ratios[:, idx]) for name, idx in groups.items()}}


def _nanmean_rows(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    with np.errstate(invalid="ignore"):
        return np.where(finite.any(1), np.nansum(values, 1) / np.maximum(finite.sum(1), 1), np.nan)


def interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """(lower, upper) percentile interval and the standard deviation of bootstrap samples."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if len(samples) == 0:
        return float("nan"), float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high), float(samples.std(ddof=1)) if len(samples) > 1 else 0.0


def regression(y: np.ndarray, predictors: dict[str, np.ndarray]) -> dict:
    """Ordinary least squares of ``y`` on an intercept and ``predictors``, with t tests.

    Returns per term (``intercept`` and each predictor) the coefficient, standard error,
    t statistic and two-sided p value, plus ``n``, ``rank`` (of the design matrix) and
    ``r_squared``. Quantities the data do not determine are NaN, never a number a pseudo-
    inverse happened to pick: every term when the design is rank-deficient (e.g. all models
    at the same clean accuracy), R^2 when the scores do not vary.
    """
    import statsmodels.api as sm

    names = list(predictors)
    y = np.asarray(y, dtype=np.float64)
    x = np.column_stack([np.asarray(predictors[n], dtype=np.float64) for n in names])
    if len(y) <= len(names) + 1:
        raise ValueError(f"{len(y)} models cannot fit an intercept and {len(names)} slopes with a residual")
    design = sm.add_constant(x, has_constant="add")
    rank = int(np.linalg.matrix_rank(design))
    nan = float("nan")
    if rank < design.shape[1]:
        terms = {name: {"coefficient": nan, "std_error": nan, "t": nan, "p": nan} for name in ["intercept", *names]}
    else:
        fit = sm.OLS(y, design).fit()
        terms = {name: {"coefficient": float(fit.params[i]), "std_error": float(fit.bse[i]),
                        "t": float(fit.tvalues[i]), "p": float(fit.pvalues[i])}
                 for i, name in enumerate(["intercept", *names])}
    total = float(((y - y.mean()) ** 2).sum())
    if rank < design.shape[1] or total == 0:
        r_squared = nan
    else:
        r_squared = float(fit.rsquared)
    return {"terms": terms, "n": int(len(y)), "rank": rank, "r_squared": r_squared}
