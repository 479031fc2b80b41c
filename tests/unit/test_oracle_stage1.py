"""The Oracle's stage 1 as the authors train it: corrupt(augment(rgb)), one forward pass per step,
model selection on the validation split mixed as training is."""

import numpy as np
import torch

from pipeline.corruptions import TIN_TC, corrupt_image
from pipeline.images.augment import PAPER_AUGMENTATION, apply_geometry
from pipeline.images.corruption_pool import CorruptionPool, plan
from pipeline.models.vgg import build_vgg_classifier
from pipeline.training.classification import train_oracle_stage1
from tests.unit.test_classifier import _images


def _colour_images(n=6, px=32, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, px, px, 3), dtype=np.uint8)


def test_pool_copies_are_corruptions_of_the_augmented_view():
    rgb = _colour_images()
    pool = CorruptionPool(rgb, copies=2, seed=3, workers=0, augmentation=PAPER_AUGMENTATION)
    copies = pool.get(0)
    p = plan(len(rgb), 2, 3, 0, PAPER_AUGMENTATION)
    assert copies.shape == (len(rgb), 2, 32, 32)
    views = apply_geometry(torch.from_numpy(rgb).permute(0, 3, 1, 2), p.augmentation, padding=4)
    views = views.permute(0, 2, 3, 1).to(torch.uint8).numpy()
    for i in range(len(rgb)):
        assert p.corruptions[i, 0] != p.corruptions[i, 1]
        for k in range(2):
            expected = corrupt_image(views[i], TIN_TC[p.corruptions[i, k]], int(p.severities[i, k]), int(p.seeds[i, k]))
            assert np.array_equal(copies[i, k], expected)
            # and not the corruption of the un-augmented image (the old order)
            if bool((p.augmentation.shift[i] != 0).any()):
                before = corrupt_image(rgb[i], TIN_TC[p.corruptions[i, k]], int(p.severities[i, k]), int(p.seeds[i, k]))
                assert not np.array_equal(copies[i, k], before)


def test_pool_blocks_do_not_depend_on_the_number_of_workers():
    rgb = _colour_images(n=5)
    serial = CorruptionPool(rgb, copies=2, seed=1, workers=0, augmentation=PAPER_AUGMENTATION)
    parallel = CorruptionPool(rgb, copies=2, seed=1, workers=2, augmentation=PAPER_AUGMENTATION)
    try:
        assert np.array_equal(serial.get(1), parallel.get(1))
        assert np.array_equal(serial.corrupted_validation(rgb), parallel.corrupted_validation(rgb))
    finally:
        parallel.close()


def _batch_norm_counts(state_dict):
    return {k: int(v) for k, v in state_dict.items() if k.endswith("num_batches_tracked")}


def test_each_batch_norm_updates_once_per_optimiser_step_and_selection_uses_the_mixed_validation():
    data = _images(n_per_class=24)  # 72 images
    batch_size = 16
    steps = -(-len(data["train"][0]) // batch_size)  # 5 steps in the one epoch
    result = train_oracle_stage1(build_vgg_classifier(data, seed=0, width=0.125), data, seed=0, pool_workers=0,
                                 max_epochs=1, lr=0.05, momentum=0.9, batch_size=batch_size)
    counts = _batch_norm_counts(result.state_dict)
    assert len(counts) == 16  # every batch norm of VGG-19-BN
    assert set(counts.values()) == {steps}, counts  # conv3_1 and below included: no extra training-mode passes
    assert result.output["metric"] == "validation_mixed_accuracy"
    assert result.score == result.output["validation_mixed_accuracy"]
    assert "val_mixed_accuracy" in result.output["history"][0]
    assert 0 <= result.score <= 1


def test_stage1_uses_the_rgb_pixels_when_given():
    data = _images(n_per_class=8)
    grey = data["train"][0]
    rgb = torch.stack([grey, grey // 2, 255 - grey], dim=-1)  # colour whose luma differs from grey replicated
    kwargs = dict(pool_workers=0, max_epochs=1, lr=0.05, momentum=0.9, batch_size=16)
    a = train_oracle_stage1(build_vgg_classifier(data, seed=0, width=0.125), {**data, "train_rgb": rgb}, seed=0, **kwargs)
    b = train_oracle_stage1(build_vgg_classifier(data, seed=0, width=0.125), data, seed=0, **kwargs)
    assert any(not torch.equal(a.state_dict[k], b.state_dict[k]) for k in a.state_dict if a.state_dict[k].is_floating_point())
