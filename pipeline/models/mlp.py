"""A multi-layer perceptron whose input and output sizes come from the data."""

from __future__ import annotations

import torch
from torch import nn

from .data_info import input_shape


def build_mlp(dataloaders: dict, seed: int, hidden: tuple | list = (64,), dropout: float = 0.0) -> nn.Module:
    """Input width from the training inputs, output width from ``dataloaders['n_classes']``
    (``dataloaders`` may be the model's DataInfo)."""
    torch.manual_seed(seed)
    width = input_shape(dataloaders)[0]
    layers: list[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(width, int(size)), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = int(size)
    layers.append(nn.Linear(width, int(dataloaders["n_classes"])))
    return nn.Sequential(*layers)
