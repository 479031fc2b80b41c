"""The multi-task models: MTL-Monkey, MTL-Oracle and MTL-Shuffled.

One table trains all three; a row's family is the kind of its responses
(``ResponseSource.producer``): Monkey Predictor responses make MTL-Monkey, the Oracle
readout's make MTL-Oracle, shuffled ones make MTL-Shuffled. Which (model, trainer, seed)
combinations are trained comes from ``experiment.Family`` rows of the matching kind, and a
model's seed is paired with its producer's seed, so five seeds are five models, not
five times five.
"""

from __future__ import annotations

import datajoint as dj

from pipeline.data.dataloaders import MTLData

from . import kinds
from .connection import make_schema
from .experiment import Family
from .images import ImageDataset
from .registry import ModelConfig, Seed, TrainerConfig, pairs_of  # noqa: F401 (definitions name them)
from .responses import PredictedResponses, ResponseSource
from .trained_model import CheckpointBase, TrainedModelBase

schema = make_schema("mtl")

_PARENTS = ("PredictedResponses", "ModelConfig", "TrainerConfig", "Seed")
_RESULTS = """    validation_accuracy : float64   # clean accuracy on the held-out tenth of TIN train (0-1)
    test_accuracy : float64         # clean accuracy on TIN val, the test set (0-1)
    neural_corr : float64           # mean per-unit correlation with the validation images' target responses
    sigma_c : float64               # learned observation noise of the classification loss
    sigma_n : float64               # learned observation noise of the neural loss"""


@schema
class MTLCheckpoint(CheckpointBase):
    definition = CheckpointBase.definition_for(*_PARENTS)


@schema
class MTLModel(TrainedModelBase):
    model_table = ModelConfig
    dataset_table = ImageDataset
    trainer_table = TrainerConfig
    seed_table = Seed
    checkpoint_table = MTLCheckpoint
    result_fields = ("validation_accuracy", "test_accuracy", "neural_corr", "sigma_c", "sigma_n")
    definition = TrainedModelBase.definition_for(
        *_PARENTS, results=_RESULTS, comment="a classifier co-trained with predicted responses through conv3_1"
    )

    @property
    def key_source(self):
        parents = (PredictedResponses.proj() * ResponseSource.proj("producer", "producer_seed", "neural_dataset")
                   * ModelConfig.proj() * TrainerConfig.proj() * Seed.proj())
        parents = parents & pairs_of("mtl") & "seed = producer_seed"
        # only what a family asks for: its configs and seeds, on its image dataset, with
        # responses of its kind that stand for its neural dataset (one SQL query: an OR over
        # the producers of the kinds recipe, each a semijoin with its families' plan)
        asked = [dj.AndList([{"producer": producer}, Family.planned(kind).proj("image_dataset", "neural_dataset")])
                 for producer, (kind, _) in kinds.MTL_FAMILY_OF_PRODUCER.items()]
        return (parents & asked).proj()

    def make_fetch(self, key):
        model = ModelConfig().fn_config(key)
        trainer = TrainerConfig().fn_config(key)
        dataset = ("predicted_responses", {"image_dataset": key["image_dataset"], "responses_id": key["responses_id"]})
        return model, dataset, trainer, int(key["seed"])

    def load_data(self, key, seed: int) -> MTLData:
        data = ImageDataset().build({"image_dataset": key["image_dataset"]})
        responses, sessions = PredictedResponses().load({"image_dataset": key["image_dataset"], "responses_id": key["responses_id"]})
        return MTLData(**dict(data), responses=responses, response_sessions=sessions)

    @staticmethod
    def family_of(key) -> str:
        """MTL-Monkey, MTL-Oracle or MTL-Shuffled, from the producer of the row's responses."""
        producer = (ResponseSource & key).fetch1("producer")
        return kinds.MTL_FAMILY_OF_PRODUCER[producer][1]
