"""A model built from its stored DataInfo is the model its builder makes from the data."""

import json

import numpy as np
import torch

from pipeline.data.synthetic import gaussian_clusters
from pipeline.models.data_info import describe
from pipeline.models.mlp import build_mlp
from pipeline.models.mtl import build_mtl_model
from pipeline.models.predictor import build_monkey_predictor
from pipeline.models.vgg import build_vgg_classifier
from pipeline.recordings.virtual_monkey import Size, simulate

from .test_mtl import _mtl_data
from .test_predictor import _dataloaders


def _stored(dataloaders: dict) -> dict:
    """The DataInfo as a row's JSON gives it back."""
    return json.loads(json.dumps(describe(dataloaders)))


def _same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name].shape == sb[name].shape and torch.equal(sa[name], sb[name]), name


def test_classifiers_and_the_mlp_build_identically_from_their_data_info():
    images = _mtl_data()
    _same(build_vgg_classifier(images, seed=3, width=0.125), build_vgg_classifier(_stored(images), seed=3, width=0.125))
    clusters = gaussian_clusters(0, n_train=50, n_validation=10)
    _same(build_mlp(clusters, seed=1), build_mlp(_stored(clusters), seed=1))


def test_the_mtl_network_and_the_monkey_predictor_build_identically_from_their_data_info():
    data = _mtl_data()
    _same(build_mtl_model(data, seed=0, width=0.125), build_mtl_model(_stored(data), seed=0, width=0.125))
    neural = _dataloaders(simulate(Size((3, 2), (1, 1), 60, 15, 8, (2, 2), 21.0), seed=0))
    _same(build_monkey_predictor(neural, seed=2, width=0.125), build_monkey_predictor(_stored(neural), seed=2, width=0.125))


def test_the_data_info_holds_no_images_and_is_small():
    data = _mtl_data(n_per_class=64)
    info = describe(data)
    assert not any(torch.is_tensor(v) or isinstance(v, np.ndarray) for v in info.values())
    assert len(json.dumps(info)) < 2_000  # a few numbers per unit, never pixels
