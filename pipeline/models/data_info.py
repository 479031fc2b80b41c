"""DataInfo: what a model builder needs of its data, without the data (the nnfabrik pattern).

A builder sizes its network from the dataloaders: classes, pixel statistics, image size,
units per session, and the mean training responses its readout biases start from. Those
few numbers are stored with each trained model (``output["data_info"]``), so that loading
a trained model for evaluation or reconstruction builds it from them instead of loading,
and for MTL models re-deriving, its whole training set.

:class:`DataInfo` has the attribute names of the dataloaders it describes
(:mod:`pipeline.data.dataloaders`), so a builder reads ``data.n_classes`` or
``data.mean_responses`` from either and builds the same network (a unit test checks
parameter for parameter).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ..data.dataloaders import ClassificationData, Dataloaders

#: the key of a trained row's ``output`` that holds its DataInfo
OUTPUT_KEY = "data_info"


@dataclasses.dataclass(frozen=True, eq=False)
class DataInfo(Dataloaders):
    """JSON-sized facts about a model's training data; ``None`` where that data has none."""

    n_classes: int | None = None
    image_mean: float | None = None  # mean training pixel, pixels in [0, 1]
    image_std: float | None = None  # pixel standard deviation, pixels in [0, 1]
    image_px: int | None = None  # image side, pixels
    input_shape: list | None = None  # shape of one input, without the batch
    mean_responses: dict | None = None  # session -> each unit's mean training response (spikes per window)
    response_sessions: list | None = None  # [(session, units), ...]: the MTL network's response columns, in order
    mean_train_response: list | None = None  # each MTL response column's mean training target

    @classmethod
    def of(cls, data) -> "DataInfo":
        """The DataInfo of dataloaders (a dataclass of :mod:`pipeline.data.dataloaders` or a
        lab's dict): the facts it has, by name."""
        import torch  # here, not at the top: the tables import this module; status, gc and ingest start without torch

        if isinstance(data, DataInfo):
            return data
        get = (lambda name: getattr(data, name, None)) if isinstance(data, Dataloaders) else (
            lambda name: data.get(name) if isinstance(data, Mapping) else None)
        info = {}
        if get("n_classes") is not None:
            info["n_classes"] = int(get("n_classes"))
        if not isinstance(data, ClassificationData) and get("image_px") is not None:
            info["image_px"] = int(get("image_px"))  # a classifier's comes from its images, below (features have none)
        for name in ("image_mean", "image_std"):
            if get(name) is not None:
                info[name] = float(get(name))
        for name in ("input_shape", "mean_train_response"):  # stated by name: a stored DataInfo's JSON
            if get(name) is not None:
                value = get(name)
                info[name] = value.tolist() if torch.is_tensor(value) else [float(v) if name == "mean_train_response" else int(v) for v in value]
        train = get("train")
        if isinstance(train, (tuple, list)) and len(train) == 2 and torch.is_tensor(train[0]):
            info["input_shape"] = [int(n) for n in train[0].shape[1:]]
            if train[0].dtype == torch.uint8:
                info.setdefault("image_px", int(train[0].shape[-1]))
        if get("mean_responses") is not None:
            info["mean_responses"] = {str(s): torch.as_tensor(v, dtype=torch.float32).tolist()
                                      for s, v in get("mean_responses").items()}
        if get("response_sessions") is not None:
            info["response_sessions"] = [[str(s), int(n)] for s, n in get("response_sessions")]
        if get("responses") is not None:
            info["mean_train_response"] = get("responses")["train"].float().mean(0).tolist()
        return cls(**info)

    @classmethod
    def from_json(cls, stored: Mapping, source: str = "data_info") -> "DataInfo":
        """From a stored row's JSON; facts this version does not know (a newer version's) are
        left out, so that loading a model never fails on them."""
        return cls.from_mapping({k: v for k, v in stored.items() if k in cls.field_names()}, source)

    def to_json(self) -> dict:
        """The fields that are set, as JSON values."""
        return dict(self.items())


def builder_view(dataloaders) -> Dataloaders:
    """What a builder reads: the dataclass it was given, or the DataInfo of a plain dict. A
    lab's nnfabrik dict may hold DataLoaders or keys of its own; a builder needs only the
    facts it sizes the network from, and those are read from the dict by name."""
    if isinstance(dataloaders, Dataloaders):
        return dataloaders
    return DataInfo.of(dataloaders)


def describe(dataloaders) -> dict:
    """The JSON-serialisable DataInfo of ``dataloaders``."""
    return DataInfo.of(dataloaders).to_json()
