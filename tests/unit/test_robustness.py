"""Robustness arithmetic, bootstrap, regression, corruption sets and the Tiny-ImageNet-C reader."""

import numpy as np
import pytest

from pipeline.corruptions import CATEGORIES, TIN_TC, corrupt_set
from pipeline.images.tin import ImageFormatError
from pipeline.images.tin_c import read_tiny_imagenet_c, write_tiny_imagenet_c
from pipeline.robustness import (accuracies, bootstrap, interval, mean_corruption_error, regression, robustness_score)


def test_score_on_hand_computed_accuracies():
    # 2 seeds, 2 corruptions, 2 severities
    baseline = np.array([[[0.4, 0.2], [0.5, 0.3]], [[0.4, 0.2], [0.5, 0.3]]])  # means: c0 0.3, c1 0.4
    model = np.array([[[0.5, 0.3], [0.6, 0.4]], [[0.3, 0.1], [0.4, 0.2]]])  # means: c0 0.3, c1 0.4
    assert robustness_score(model, baseline) == pytest.approx(1.0)
    better = baseline * np.array([1.5, 1.0])[None, :, None]  # c0 1.5x, c1 equal
    assert robustness_score(better, baseline) == pytest.approx((1.5 + 1.0) / 2)
    # mCE: errors summed over severities, per corruption over the Baseline's, averaged
    mce, ce = mean_corruption_error(better, baseline)
    assert ce[0] == pytest.approx((0.4 + 0.7) / (0.6 + 0.8)) and ce[1] == pytest.approx(1.0)
    assert mce == pytest.approx((ce[0] + 1.0) / 2)


def test_accuracies_from_correctness_with_image_weights():
    correct = np.array([[[[1, 0, 1, 1]]]], dtype=bool)
    assert accuracies(correct)[0, 0, 0] == pytest.approx(0.75)
    assert accuracies(correct, np.array([0.0, 2.0, 1.0, 1.0]))[0, 0, 0] == pytest.approx(0.5)


def _correct(rng, seeds, rates, n=200):
    return rng.random((seeds, len(rates), 2, n)) < np.asarray(rates)[None, :, None, None]


def test_bootstrap_is_deterministic_with_a_seed_and_brackets_the_score():
    rng = np.random.default_rng(0)
    model, base = _correct(rng, 3, [0.6, 0.5, 0.4]), _correct(rng, 3, [0.5, 0.5, 0.5])
    groups = {"a": [0, 1], "b": [2]}
    one, two = bootstrap(model, base, groups, repetitions=50, seed=7), bootstrap(model, base, groups, repetitions=50, seed=7)
    assert np.array_equal(one["score"], two["score"]) and np.array_equal(one["group"]["a"], two["group"]["a"])
    assert not np.array_equal(one["score"], bootstrap(model, base, groups, repetitions=50, seed=8)["score"])
    low, high, std = interval(one["score"])
    score = robustness_score(accuracies(model), accuracies(base))
    assert low < score < high and std > 0 and one["corruption"].shape == (50, 3)


def test_regression_recovers_a_known_relation():
    rng = np.random.default_rng(1)
    accuracy, fev = rng.uniform(0.3, 0.6, 60), rng.uniform(0.1, 0.5, 60)
    robustness = 0.5 + 0.8 * accuracy + 0.3 * fev + rng.normal(0, 0.01, 60)
    fit = regression(robustness, {"clean_accuracy": accuracy, "fev": fev})
    assert fit["n"] == 60 and fit["r_squared"] > 0.9
    assert fit["terms"]["clean_accuracy"]["coefficient"] == pytest.approx(0.8, abs=0.05)
    assert fit["terms"]["fev"]["coefficient"] == pytest.approx(0.3, abs=0.05)
    assert fit["terms"]["fev"]["p"] < 1e-4
    noise = regression(rng.normal(size=60), {"clean_accuracy": accuracy, "fev": fev})
    assert noise["terms"]["fev"]["p"] > 1e-3
    with pytest.raises(ValueError, match="3 models"):
        regression(robustness[:3], {"clean_accuracy": accuracy[:3], "fev": fev[:3]})
    assert fit["rank"] == 3


def test_a_regression_the_data_do_not_determine_is_nan_not_infinite():
    # four models at chance: the same clean accuracy and the same robustness (the tiny graph's
    # MTL-Shuffled sweep); statsmodels would report R^2 = -inf and pseudo-inverse coefficients
    fit = regression(np.full(4, 1.0), {"clean_accuracy": np.full(4, 1 / 3), "neural": np.array([0.1, 0.2, 0.3, 0.4])})
    assert fit["rank"] == 2 and np.isnan(fit["r_squared"])
    assert all(np.isnan(v) for term in fit["terms"].values() for v in term.values())
    flat = regression(np.full(5, 0.9), {"clean_accuracy": np.array([0.3, 0.5, 0.4, 0.6, 0.2]),
                                        "neural": np.array([0.1, 0.4, 0.2, 0.3, 0.5])})
    assert flat["rank"] == 3 and np.isnan(flat["r_squared"])  # scores that do not vary: R^2 undefined
    assert flat["terms"]["neural"]["coefficient"] == pytest.approx(0.0, abs=1e-9)


def test_corruption_sets_are_reproducible_bit_for_bit_whatever_the_workers():
    images = (np.random.default_rng(0).random((6, 64, 64)) * 255).astype(np.uint8)
    for name in ("gaussian_noise", "impulse_noise", "frost"):
        serial = corrupt_set(images, name, 2, seed=5, workers=1, progress=False)
        assert serial.dtype == np.uint8 and serial.shape == images.shape
        assert np.array_equal(serial, corrupt_set(images, name, 2, seed=5, workers=2, progress=False))
        assert not np.array_equal(serial, corrupt_set(images, name, 2, seed=6, workers=1, progress=False))
    assert len(TIN_TC) == 14 and sum(len(v) for v in CATEGORIES.values()) == 15


def test_tiny_imagenet_c_layout_round_trip_and_bad_folders(tmp_path):
    images = (np.random.default_rng(0).random((4, 64, 64)) * 255).astype(np.uint8)
    labels = np.array([0, 1, 0, 1])
    root = write_tiny_imagenet_c(tmp_path / "Tiny-ImageNet-C", images, labels, ["n01", "n02"], ["fog", "pixelate"], [1, 3])
    sets = read_tiny_imagenet_c(root, ["n01", "n02"])
    assert sorted(sets) == [("fog", 1), ("fog", 3), ("pixelate", 1), ("pixelate", 3)]
    assert sets[("fog", 1)].images.shape == (4, 64, 64) and sorted(sets[("fog", 1)].labels.tolist()) == [0, 0, 1, 1]
    with pytest.raises(ImageFormatError, match="n02"):
        read_tiny_imagenet_c(root, ["n01"])
    (root / "sparkle").mkdir()
    with pytest.raises(ImageFormatError, match="sparkle"):
        read_tiny_imagenet_c(root, ["n01", "n02"])
    (root / "sparkle").rmdir()
    (root / "fog" / "9").mkdir()
    with pytest.raises(ImageFormatError, match="severity"):
        read_tiny_imagenet_c(root, ["n01", "n02"])


def test_a_corruption_the_baseline_never_gets_right_is_left_out():
    baseline = np.array([[[0.5, 0.5], [0.0, 0.0]]])
    model = np.array([[[0.6, 0.4], [0.2, 0.1]]])
    assert robustness_score(model, baseline) == pytest.approx(1.0)  # only the first corruption counts


def test_per_image_correctness_is_the_same_channels_last_and_batched():
    import torch

    from pipeline.evaluation import correct_per_image, for_inference
    from pipeline.models.vgg import VGGClassifier

    torch.manual_seed(0)
    model = VGGClassifier(3, width=0.125)
    rng = np.random.default_rng(0)
    images = (rng.random((50, 64, 64)) * 255).astype(np.uint8)
    with torch.no_grad():
        from pipeline.images.augment import standardise

        labels = model.eval()(standardise(torch.as_tensor(images), 0.45, 0.22)).argmax(1).numpy()
    labels[::3] = (labels[::3] + 1) % 3  # a third wrong on purpose
    reference = correct_per_image(model, images, labels, 0.45, 0.22, batch_size=50)
    assert reference.tolist() == [i % 3 != 0 for i in range(50)]
    fast = for_inference(model)
    convs = [p for p in fast.parameters() if p.dim() == 4 and p.shape[1] > 1 and p.shape[2] * p.shape[3] > 1]
    assert all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs)
    assert correct_per_image(fast, images, labels, 0.45, 0.22, batch_size=16).tolist() == reference.tolist()
