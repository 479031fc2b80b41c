"""The VGG-19-BN classifier, the Baseline trainer and the Oracle's stages on small data."""

import numpy as np
import pytest
import torch

from pipeline.corruptions import CATEGORIES, TIN_TC, corrupt_image
from pipeline.models.vgg import CONV3_1, VGGClassifier, build_vgg_classifier
from pipeline.training.classification import train_classifier, train_oracle_stage1, train_oracle_stage2


def test_paper_network_has_the_published_parameter_count():
    # REFERENCE: 39,737,352 for features + readout with 200 classes; that count has an RGB
    # first layer (3 x 64 x 9 weights). With the paper's grayscale input, 2 x 64 x 9 fewer.
    rgb = VGGClassifier(200, width=1.0, in_channels=3)
    assert sum(p.numel() for p in rgb.parameters()) == 39_737_352
    gray = VGGClassifier(200, width=1.0)
    assert sum(p.numel() for p in gray.parameters()) == 39_737_352 - 2 * 64 * 9
    assert isinstance(gray.features[14], torch.nn.Conv2d) and gray.features[14].out_channels == 256
    assert gray.shared_block(torch.zeros(1, 1, 64, 64)).shape == (1, 256, 16, 16)
    assert gray(torch.zeros(2, 1, 64, 64)).shape == (2, 200)
    assert gray(torch.zeros(1, 1, 96, 80)).shape == (1, 200)  # fully convolutional


def test_tin_tc_is_fourteen_corruptions_in_four_categories():
    assert len(TIN_TC) == 14 and "glass_blur" not in TIN_TC
    assert sorted(CATEGORIES) == ["blur", "digital", "noise", "weather"]


def test_corruption_is_reproducible_and_grayscale():
    image = (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8)
    for name in ("gaussian_noise", "impulse_noise", "fog", "zoom_blur"):
        a, b = corrupt_image(image, name, 3, seed=11), corrupt_image(image, name, 3, seed=11)
        assert a.shape == (64, 64) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(corrupt_image(image, "gaussian_noise", 3, 11), corrupt_image(image, "gaussian_noise", 3, 12))


def _images(n_per_class=24, classes=3, seed=0):
    """Bright, dark or striped squares: a task a tiny VGG learns in a few epochs."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for k in range(classes * n_per_class):
        c = k % classes
        img = rng.normal(128, 20, (32, 32))
        if c == 0:
            img[8:24, 8:24] += 90
        elif c == 1:
            img[8:24, 8:24] -= 90
        else:
            img[:, ::4] += 80
        images.append(np.clip(img, 0, 255).astype(np.uint8))
        labels.append(c)
    x, y = torch.from_numpy(np.stack(images)), torch.tensor(labels)
    return {"train": (x, y), "validation": (x[:30], y[:30]), "test": (x[-30:], y[-30:]), "n_classes": classes,
            "image_mean": float(x.float().mean() / 255), "image_std": float(x.float().std() / 255)}


SMALL = dict(max_epochs=3, lr=0.05, momentum=0.9, batch_size=16, patience=1)


def test_baseline_trainer_learns_and_reports_clean_accuracies():
    data = _images(n_per_class=48)
    result = train_classifier(build_vgg_classifier(data, seed=0, width=0.125), data, seed=0,
                              **{**SMALL, "max_epochs": 5, "lr": 0.02, "patience": 5})
    losses = [h["train_loss"] for h in result.output["history"]]
    assert losses[-1] < 0.8 * losses[0], losses  # it learns
    assert result.output["validation_accuracy"] == result.score
    assert 0 <= result.output["test_accuracy"] <= 1 and result.output["epochs_run"] == 5


@pytest.mark.slow
def test_oracle_stage2_keeps_the_frozen_layers_bit_identical():
    data = _images()
    stage1 = train_oracle_stage1(build_vgg_classifier(data, seed=0, width=0.125), data, seed=0, pool_workers=0,
                                 max_epochs=1, lr=0.05, momentum=0.9, batch_size=16)
    model = build_vgg_classifier(data, seed=0, width=0.125)
    model.load_state_dict(stage1.state_dict)
    model.reinitialise_after_shared_block()
    stage2 = train_oracle_stage2(model, data, seed=1, **SMALL)
    frozen = [k for k in stage1.state_dict if k.startswith("features.") and int(k.split(".")[1]) < CONV3_1]
    above = [k for k in stage1.state_dict if k not in frozen and stage1.state_dict[k].is_floating_point()]
    assert frozen and any(k.endswith("running_mean") for k in frozen)
    for k in frozen:  # weights and batch-norm statistics alike
        assert torch.equal(stage2.state_dict[k], stage1.state_dict[k]), k
    assert any(not torch.equal(stage2.state_dict[k], stage1.state_dict[k]) for k in above)
