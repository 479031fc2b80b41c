"""The data a trainer trains on and a builder sizes its network from, as typed values.

nnfabrik hands a dict called ``dataloaders`` from the dataset function to the model builder
and the trainer. Here it is one frozen dataclass per kind of data:

- :class:`ClassificationData`: image (or feature) splits with labels, for the classifiers;
- :class:`MTLData`: the same plus predicted responses per split, for the MTL networks;
- :class:`NeuralData`: stimuli and each session's presentations, for the neural predictors;
- :class:`~pipeline.models.data_info.DataInfo`: what a builder needs without the data.

Each also reads as the dict nnfabrik users know (``data["n_classes"]``, ``"test" in data``,
``data.get("train_rgb")``; a field that is ``None`` is absent), so a lab's builder written
for nnfabrik runs unchanged. A lab's dataset function may return a plain dict:
:func:`typed` turns one into the class whose fields it names, with a one-line error naming
a field that fits no class.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # torch is imported where used: the CLI's status, gc and ingest's checks start without torch
    import torch


class Split(NamedTuple):
    """One split: inputs (uint8 images (n, px, px), or float features (n, d)) and int labels (n,)."""

    inputs: torch.Tensor
    labels: torch.Tensor


class Dataloaders(Mapping):
    """Read access by name for the dataclasses below (fields set to ``None`` are absent)."""

    def __getitem__(self, name: str):
        if name in self.field_names():
            value = getattr(self, name)
            if value is not None:
                return value
        raise KeyError(name)

    def __iter__(self):
        return (name for name in self.field_names() if getattr(self, name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # identity, not Mapping's element-wise comparison (tensors have no truth value)
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_mapping(cls, data: Mapping, source: str = "dataloaders"):
        """``cls`` from a dict of its fields; a missing or unknown field is a one-line error."""
        unknown = sorted(set(data) - set(cls.field_names()))
        if unknown:
            raise ValueError(f"{source}: {cls.__name__} has no field {unknown[0]!r} (fields: {', '.join(cls.field_names())})")
        required = [f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"{source}: {cls.__name__} needs the field {missing[0]!r}")
        return cls(**data)

    def replace(self, **changes):
        """A copy with ``changes`` (the tensors are shared, not copied)."""
        return dataclasses.replace(self, **changes)


def _split(value, name: str) -> Split | None:
    import torch

    if value is None or isinstance(value, Split):
        return value
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(torch.is_tensor(v) for v in value):
        return Split(*value)
    raise ValueError(f"dataloaders: split {name!r} must be a pair (inputs, labels) of tensors")


@dataclasses.dataclass(frozen=True, eq=False)
class ClassificationData(Dataloaders):
    """Splits for a classifier. Pixel statistics are of the training images, pixels in [0, 1]."""

    train: Split
    validation: Split
    n_classes: int
    test: Split | None = None
    image_mean: float = 0.0  # mean training pixel, pixels in [0, 1]; 0 for features
    image_std: float = 1.0  # pixel standard deviation, pixels in [0, 1]; 1 for features
    train_rgb: torch.Tensor | None = None  # (n, px, px, 3) uint8 RGB of the training images (the Oracle corrupts RGB)
    validation_rgb: torch.Tensor | None = None  # (n, px, px, 3) uint8 RGB of the validation images

    def __post_init__(self):
        for name in ("train", "validation", "test"):
            object.__setattr__(self, name, _split(getattr(self, name), name))
        object.__setattr__(self, "n_classes", int(self.n_classes))
        if self.n_classes < 2:
            raise ValueError(f"dataloaders: n_classes={self.n_classes}, a classification task needs at least 2")

    @property
    def is_image(self) -> bool:
        """uint8 images (standardised and augmented by the trainers), not features."""
        import torch

        return self.train.inputs.dtype == torch.uint8

    @property
    def input_shape(self) -> list[int]:
        """Shape of one input, without the batch."""
        return [int(n) for n in self.train.inputs.shape[1:]]

    @property
    def image_px(self) -> int:
        return int(self.train.inputs.shape[-1])


@dataclasses.dataclass(frozen=True, eq=False)
class MTLData(ClassificationData):
    """Image splits plus predicted responses: per split (images, units), rows aligned with the
    split's images, and the sessions [(name, units), ...] that name their columns in order."""

    responses: dict | None = None
    response_sessions: tuple = ()

    def __post_init__(self):
        super().__post_init__()
        if self.responses is None or "train" not in self.responses:
            raise ValueError("dataloaders: MTLData needs responses for the train split")
        for split in ("train", "validation", "test"):
            images = getattr(self, split)
            if images is not None and split in self.responses and len(self.responses[split]) != len(images.inputs):
                raise ValueError(f"dataloaders: {len(self.responses[split])} {split} responses for {len(images.inputs)} {split} images")
        object.__setattr__(self, "response_sessions", tuple((str(s), int(n)) for s, n in self.response_sessions))

    @property
    def mean_train_response(self) -> torch.Tensor:
        """Each unit's mean training target (the readout biases start there)."""
        return self.responses["train"].float().mean(0)


@dataclasses.dataclass(frozen=True, eq=False)
class NeuralData(Dataloaders):
    """Stimuli held once and each session's presentations indexing into them.

    ``sessions[name][split]`` is (image row per presentation (n,) int64, responses
    (n, units) float, NaN where not recorded); ``mean_responses[name]`` is each unit's mean
    training response (spikes per window).
    """

    images: torch.Tensor  # (images, px, px) uint8
    image_ids: torch.Tensor  # (images,) int64 stimulus id of each row
    image_px: int
    image_mean: float  # mean training pixel, pixels in [0, 1]
    image_std: float  # pixel standard deviation, pixels in [0, 1]
    sessions: dict
    mean_responses: dict


def typed(data, source: str = "dataloaders") -> Dataloaders:
    """``data`` as its dataclass: kept if it is one already, built from a dict by its fields."""
    if isinstance(data, Dataloaders):
        return data
    if not isinstance(data, Mapping):
        raise TypeError(f"{source}: expected a dataloaders dict or dataclass, got {type(data).__name__}")
    from ..models.data_info import DataInfo  # the models' module; it builds on this one

    if "responses" in data:
        cls = MTLData
    elif "sessions" in data and "images" in data:
        cls = NeuralData
    elif "train" in data:
        cls = ClassificationData
    else:
        cls = DataInfo
    return cls.from_mapping(data, source)


def expect(data, cls: type, trainer: str):
    """``data`` typed, and of ``cls`` (what ``trainer`` trains on), else a one-line error."""
    data = typed(data)
    if not isinstance(data, cls):
        raise TypeError(f"{trainer} trains on {cls.__name__}, got {type(data).__name__}")
    return data
