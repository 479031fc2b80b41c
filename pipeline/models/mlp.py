"""A multi-layer perceptron whose input and output sizes come from the data."""

from __future__ import annotations

import torch
from torch import nn

from ..data.dataloaders import Dataloaders
from .data_info import builder_view


def build_mlp(dataloaders: Dataloaders, seed: int, hidden: tuple | list = (64,), dropout: float = 0.0) -> nn.Module:
    """Input width from the training inputs, output width from the classes
    (``dataloaders`` may be the model's DataInfo)."""
    data = builder_view(dataloaders)
    torch.manual_seed(seed)
    width = int(data.input_shape[0])
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, int(size)), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, int(data.n_classes)))
    return nn.Sequential(*layers)
