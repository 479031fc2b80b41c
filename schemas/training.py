"""Generic trained models: any registered model x dataset x trainer x seed."""

from __future__ import annotations

from .connection import make_schema
from .registry import DatasetConfig, ModelConfig, Seed, TrainerConfig  # noqa: F401 (definitions name them)
from .trained_model import CheckpointBase, TrainedModelBase

schema = make_schema("training")

_PARENTS = ("ModelConfig", "DatasetConfig", "TrainerConfig", "Seed")


@schema
class TrainingCheckpoint(CheckpointBase):
    definition = CheckpointBase.definition_for(*_PARENTS)


@schema
class TrainedModel(TrainedModelBase):
    model_table = ModelConfig
    dataset_table = DatasetConfig
    trainer_table = TrainerConfig
    seed_table = Seed
    checkpoint_table = TrainingCheckpoint
    definition = TrainedModelBase.definition_for(*_PARENTS)
