"""Image datasets and the classification families on a real server."""

import subprocess

import numpy as np
import pytest
import torch

from pipeline.images.demo_set import write_demo_set
from pipeline.models.vgg import CONV3_1

from .helpers import REPO

pytestmark = pytest.mark.portable


@pytest.fixture
def layout(tmp_path):
    return write_demo_set(tmp_path / "tiny-imagenet-200", n_classes=3, train_per_class=16, val_per_class=4, seed=2)


def _cli(python, env, *args):
    return subprocess.run([python, "-m", "populate", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def _counts():
    from schemas.images import ImageDataset

    return {t.__name__: len(t()) for t in (ImageDataset, ImageDataset.Class, ImageDataset.Split, ImageDataset.Colour,
                                           ImageDataset.Image)}


def test_import_through_the_cli_stores_rows_and_pixels(clean, layout, python, worker_env):
    from schemas.images import ImageDataset

    out = _cli(python, worker_env, "ingest", "tiny-imagenet", str(layout), "--name", "tin3")
    assert out.returncode == 0, out.stderr
    key = {"image_dataset": "tin3"}
    assert (ImageDataset & key).fetch1("n_classes") == 3
    assert len(ImageDataset.Image & key & {"split": "test"}) == 12
    assert len(ImageDataset.Image & key & "split in ('train', 'validation')") == 48
    data = ImageDataset().build(key)
    assert data["train"][0].dtype == torch.uint8 and data["train"][0].shape[1:] == (64, 64)
    assert sorted(torch.unique(data["test"][1]).tolist()) == [0, 1, 2]
    words = (ImageDataset.Class & key).to_arrays("words").tolist()
    assert sorted(words) == ["disc", "ring", "square"]
    # the RGB pixels of every split are kept, and the grey ones are their luma
    from pipeline.corruptions import to_gray

    for split in ("train", "validation", "test"):
        rgb = ImageDataset().rgb(key, split)
        assert rgb.dtype == np.uint8 and rgb.shape == tuple(data[split][0].shape) + (3,)
        assert np.array_equal(to_gray(rgb), data[split][0].numpy())


@pytest.mark.parametrize("damage", ["truncated", "unknown-wnid", "no-annotations"])
def test_a_bad_file_is_named_and_nothing_is_stored(clean, layout, python, worker_env, damage):
    if damage == "truncated":
        victim = sorted(layout.glob("train/*/images/*.JPEG"))[3]
        victim.write_bytes(victim.read_bytes()[:150])
        named = victim.name
    elif damage == "unknown-wnid":
        annotations = layout / "val" / "val_annotations.txt"
        annotations.write_text(annotations.read_text().replace("\tn90000001\t", "\tn11111111\t", 1))
        named = "n11111111"
    else:
        (layout / "val" / "val_annotations.txt").unlink()
        named = "val_annotations.txt"
    before = _counts()
    out = _cli(python, worker_env, "ingest", "tiny-imagenet", str(layout), "--name", "bad")
    assert out.returncode == 2 and named in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert _counts() == before


def test_baseline_and_oracle_train_end_to_end_through_populate(clean, layout):
    from populate.ingest import ingest_tiny_imagenet
    from schemas.classifier import Classifier, ClassifierCheckpoint, OracleCheckpoint, OracleStage2
    from schemas.registry import ModelConfig, Seed, TrainerConfig

    ingest_tiny_imagenet(layout, "tin3")
    Seed.insert1((1,), skip_duplicates=True)
    small = {"max_epochs": 2, "lr": 0.02, "momentum": 0.9, "batch_size": 16}
    ModelConfig().add_entry("pipeline.models.vgg.build_vgg_classifier", {"width": 0.125})
    TrainerConfig().add_entry("pipeline.training.classification.train_classifier", small)
    TrainerConfig().add_entry("pipeline.training.classification.train_oracle_stage1", {**small, "pool_workers": 1})
    TrainerConfig().add_entry("pipeline.training.classification.train_oracle_stage2", small)
    assert len(Classifier.key_source) == 2  # Baseline and Oracle stage 1; stage 2's trainer is not paired here
    assert Classifier.populate(reserve_jobs=True)["success_count"] == 2
    assert len(OracleStage2.key_source) == 1
    assert OracleStage2.populate(reserve_jobs=True)["success_count"] == 1
    assert len(ClassifierCheckpoint()) == 0 and len(OracleCheckpoint()) == 0
    for row in Classifier().to_dicts() + OracleStage2().to_dicts():
        assert 0 <= row["validation_accuracy"] <= 1 and 0 <= row["test_accuracy"] <= 1
        assert row["score"] == row["validation_accuracy"]
    stage1_key = (Classifier & {"trainer_fn": "pipeline.training.classification.train_oracle_stage1"}).fetch1("KEY")
    stage1 = Classifier().load_state_dict(stage1_key)
    stage2 = OracleStage2().load_state_dict(OracleStage2().keys()[0])
    frozen = [k for k in stage1 if k.startswith("features.") and int(k.split(".")[1]) < CONV3_1]
    assert all(torch.equal(stage1[k], stage2[k]) for k in frozen)
    assert not all(torch.equal(stage1[k], stage2[k]) for k in stage1 if k.startswith("readout."))
