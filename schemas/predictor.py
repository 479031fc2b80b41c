"""The Monkey Predictor: trained on a neural dataset through the registry, then evaluated.

``MonkeyPredictor`` is the ``TrainedModel`` template with ``recording.NeuralDataset`` as its
dataset table: a model config (``pipeline.models.predictor.build_monkey_predictor``) and a
trainer config (``pipeline.training.neural.train_neural_predictor``) from the registry,
times seeds. ``schemas.neural.NeuralEvaluation`` scores it (and every other neural model)
on the recordings' test repeats.
"""

from __future__ import annotations

from .connection import make_schema
from .recording import NeuralDataset  # noqa: F401 (definitions name it)
from .registry import ModelConfig, Seed, TrainerConfig  # noqa: F401
from .trained_model import CheckpointBase, TrainedModelBase

schema = make_schema("predictor")

_PARENTS = ("NeuralDataset", "ModelConfig", "TrainerConfig", "Seed")


@schema
class PredictorCheckpoint(CheckpointBase):
    definition = CheckpointBase.definition_for(*_PARENTS)


@schema
class MonkeyPredictor(TrainedModelBase):
    model_table = ModelConfig
    dataset_table = NeuralDataset
    trainer_table = TrainerConfig
    seed_table = Seed
    checkpoint_table = PredictorCheckpoint
    definition = TrainedModelBase.definition_for(*_PARENTS)
