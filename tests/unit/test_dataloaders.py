"""The typed dataloaders: attribute access for the pipeline, dict access for nnfabrik builders."""

import json

import pytest
import torch

from pipeline.data.dataloaders import ClassificationData, MTLData, NeuralData, Split, expect, typed
from pipeline.data.synthetic import gaussian_clusters
from pipeline.models.data_info import DataInfo, describe
from pipeline.training.classification import train_classifier


def _images(n=12, px=8, classes=3):
    images = torch.randint(0, 256, (n, px, px), dtype=torch.uint8)
    return Split(images, torch.arange(n) % classes)


def test_a_dataclass_reads_as_the_dict_nnfabrik_builders_index():
    data = ClassificationData(train=_images(), validation=_images(6), n_classes=3, image_mean=0.5, image_std=0.25)
    assert data["n_classes"] == 3 and data.n_classes == 3
    assert "test" not in data and data.get("train_rgb") is None  # unset fields are absent
    assert set(data) == {"train", "validation", "n_classes", "image_mean", "image_std"}
    x, y = data["train"]  # a split unpacks as nnfabrik's (inputs, labels)
    assert x is data.train.inputs and y is data.train.labels
    assert data.is_image and data.image_px == 8 and data.input_shape == [8, 8]


def test_a_plain_dict_becomes_the_class_whose_fields_it_names():
    clusters = dict(gaussian_clusters(0, n_train=20, n_validation=5))
    assert isinstance(typed(clusters), ClassificationData)
    stored = json.loads(json.dumps(describe(clusters)))
    info = typed(stored)
    assert isinstance(info, DataInfo) and info.n_classes == 4 and info.input_shape == [32]
    with pytest.raises(ValueError, match="has no field 'colour'"):
        typed({**clusters, "colour": 1})
    with pytest.raises(ValueError, match="needs the field 'validation'"):
        typed({"train": clusters["train"], "n_classes": 4})


def test_mtl_data_refuses_responses_that_do_not_align_with_the_images():
    images = _images(12)
    with pytest.raises(ValueError, match="10 train responses for 12 train images"):
        MTLData(train=images, validation=_images(6), n_classes=3, responses={"train": torch.rand(10, 4)})
    data = MTLData(train=images, validation=_images(6), n_classes=3, responses={"train": torch.rand(12, 4)},
                   response_sessions=[("a", 4)])
    assert data.response_sessions == (("a", 4),)
    assert torch.allclose(data.mean_train_response, data.responses["train"].mean(0))
    assert DataInfo.of(data).mean_train_response == pytest.approx(data.mean_train_response.tolist())


def test_a_trainer_given_the_wrong_kind_of_data_says_which_it_needs():
    neural = NeuralData(images=torch.zeros(2, 8, 8, dtype=torch.uint8), image_ids=torch.arange(2), image_px=8,
                        image_mean=0.5, image_std=0.2, sessions={}, mean_responses={})
    with pytest.raises(TypeError, match="train_classifier trains on ClassificationData, got NeuralData"):
        train_classifier(torch.nn.Linear(1, 1), neural, seed=0)
    assert expect(neural, NeuralData, "x") is neural


def test_replace_adds_a_field_and_shares_the_tensors():
    data = ClassificationData(train=_images(), validation=_images(6), n_classes=3)
    rgb = torch.zeros(12, 8, 8, 3, dtype=torch.uint8)
    with_rgb = data.replace(train_rgb=rgb)
    assert with_rgb.train_rgb is rgb and data.train_rgb is None and with_rgb.train is data.train


def test_a_labs_nnfabrik_dict_with_loaders_and_keys_of_its_own_still_builds_the_pipelines_models():
    from pipeline.models.mtl import build_mtl_model
    from pipeline.models.vgg import build_vgg_classifier

    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(4, 1, 8, 8)), batch_size=2)
    lab = {"train": loader, "validation": loader, "n_classes": 5, "note": "a key of the lab's own"}
    assert build_vgg_classifier(lab, seed=0, width=0.125)(torch.zeros(2, 1, 64, 64)).shape == (2, 5)
    images = _images(12, px=16)
    mtl = {"train": images, "validation": _images(6, px=16), "n_classes": 3, "image_mean": 0.5, "image_std": 0.2,
           "responses": {"train": torch.rand(12, 4)}, "response_sessions": [("a", 4)], "extra": 1}
    assert build_mtl_model(mtl, seed=0, width=0.125).readout.bias.shape == (4,)


def test_stored_data_info_of_features_has_no_image_size_and_unknown_stored_facts_are_left_out():
    info = describe(gaussian_clusters(0, n_train=20, n_validation=5))
    assert "image_px" not in info and info["input_shape"] == [32]
    assert DataInfo.from_json({**info, "from_a_newer_version": 1}).n_classes == 4
