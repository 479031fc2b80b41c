"""DataInfo: what a model builder needs of its data, without the data (the nnfabrik pattern).

A builder sizes its network from the dataloaders: classes, pixel statistics, image size,
units per session, and the mean training responses its readout biases start from. Those
few numbers are stored with each trained model (``output["data_info"]``), so that loading
a trained model for evaluation or reconstruction builds it from them instead of loading,
and for MTL models re-deriving, its whole training set.

``describe(dataloaders)`` keeps exactly the keys builders read, as JSON values; every
builder accepts either form and builds the same network (a unit test checks parameter for
parameter).
"""

from __future__ import annotations

import torch

#: the key of a trained row's ``output`` that holds its DataInfo
OUTPUT_KEY = "data_info"


def describe(dataloaders: dict) -> dict:
    """The JSON-serialisable DataInfo of ``dataloaders``."""
    info: dict = {}
    for name in ("n_classes", "image_mean", "image_std", "image_px"):
        if name in dataloaders:
            value = dataloaders[name]
            info[name] = int(value) if name in ("n_classes", "image_px") else float(value)
    train = dataloaders.get("train")
    if isinstance(train, (tuple, list)) and torch.is_tensor(train[0]):
        info["input_shape"] = [int(n) for n in train[0].shape[1:]]
        if train[0].dtype == torch.uint8:
            info.setdefault("image_px", int(train[0].shape[-1]))
    if "mean_responses" in dataloaders:
        info["mean_responses"] = {str(s): torch.as_tensor(v, dtype=torch.float32).tolist()
                                  for s, v in dataloaders["mean_responses"].items()}
    if "response_sessions" in dataloaders:
        info["response_sessions"] = [[str(s), int(n)] for s, n in dataloaders["response_sessions"]]
    if "responses" in dataloaders:
        info["mean_train_response"] = dataloaders["responses"]["train"].float().mean(0).tolist()
    return info


def input_shape(data: dict) -> list[int]:
    """Shape of one input (without the batch), from dataloaders or a DataInfo."""
    if "input_shape" in data:
        return [int(n) for n in data["input_shape"]]
    return [int(n) for n in data["train"][0].shape[1:]]


def image_px(data: dict) -> int:
    return int(data["image_px"]) if "image_px" in data else int(data["train"][0].shape[-1])


def mean_train_response(data: dict) -> torch.Tensor:
    """Each unit's mean training target (MTL readout biases start there)."""
    if "mean_train_response" in data:
        return torch.tensor(data["mean_train_response"], dtype=torch.float32)
    return data["responses"]["train"].float().mean(0)
