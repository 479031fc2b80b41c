"""Classification-only families: the Baseline and the Oracle (two stages).

``Classifier`` trains a registered VGG on an ``images.ImageDataset``: with
``train_classifier`` that is the Baseline (clean images), with ``train_oracle_stage1`` the
Oracle's first stage (clean and corrupted images, conv3_1 consistency loss).
``OracleStage2`` takes a stage-1 row, freezes everything up to conv3_1, re-initialises the
rest and retrains it on clean images; it depends on stage 1 by foreign key.
"""

from __future__ import annotations

from .connection import make_schema
from .images import ImageDataset
from .registry import ModelConfig, Seed, TrainerConfig, functions_of, kind_of, pairs_of  # noqa: F401
from .trained_model import CheckpointBase, TrainedModelBase

schema = make_schema("classifier")

_PARENTS = ("ImageDataset", "ModelConfig", "TrainerConfig", "Seed")
_RESULTS = """    validation_accuracy : float64   # clean accuracy on the held-out tenth of TIN train (0-1)
    test_accuracy : float64         # clean accuracy on TIN val, the test set (0-1)"""


@schema
class ClassifierCheckpoint(CheckpointBase):
    definition = CheckpointBase.definition_for(*_PARENTS)


@schema
class Classifier(TrainedModelBase):
    model_table = ModelConfig
    dataset_table = ImageDataset
    trainer_table = TrainerConfig
    seed_table = Seed
    checkpoint_table = ClassifierCheckpoint
    result_fields = ("validation_accuracy", "test_accuracy")
    definition = TrainedModelBase.definition_for(*_PARENTS, results=_RESULTS, comment="a classifier: Baseline or Oracle stage 1")

    def training_data(self, key, seed: int):
        """The dataset's splits; the Oracle's stage 1 also gets the RGB train and validation
        pixels, which its corruption pool corrupts before converting to grey."""
        import torch  # here, not at the top: status, gc and ingest's checks start without torch

        data = super().training_data(key, seed)
        if kind_of("Classifier", key["model_fn"], key["trainer_fn"]) == "oracle_stage1":
            data = data.replace(**{f"{split}_rgb": torch.from_numpy(ImageDataset().rgb(key, split))
                                   for split in ("train", "validation")})
        return data


_STAGE2 = ("Classifier", "TrainerConfig.proj(stage2_trainer_fn='trainer_fn', stage2_trainer_hash='trainer_hash')")


@schema
class OracleCheckpoint(CheckpointBase):
    definition = CheckpointBase.definition_for(*_STAGE2)


@schema
class OracleStage2(TrainedModelBase):
    """The Oracle: a stage-1 model with its layers up to conv3_1 frozen and the rest retrained clean."""

    model_table = ModelConfig
    dataset_table = ImageDataset
    trainer_table = TrainerConfig
    seed_table = Seed
    checkpoint_table = OracleCheckpoint
    result_fields = ("validation_accuracy", "test_accuracy")
    definition = TrainedModelBase.definition_for(
        *_STAGE2, results=_RESULTS, comment="the Oracle: stage 1 frozen up to conv3_1, the rest retrained on clean images"
    )

    @property
    def key_source(self):
        stage1 = Classifier.proj() & pairs_of("oracle_stage1")
        stage2 = TrainerConfig.proj(stage2_trainer_fn="trainer_fn", stage2_trainer_hash="trainer_hash") & [
            {"stage2_trainer_fn": f} for f in functions_of("oracle", "trainer")
        ]
        return stage1 * stage2

    def make_fetch(self, key):
        model = ModelConfig().fn_config(key)
        dataset = ImageDataset().data_description(key)
        trainer = TrainerConfig().fn_config({"trainer_fn": key["stage2_trainer_fn"], "trainer_hash": key["stage2_trainer_hash"]})
        return model, dataset, trainer, int(key["seed"])

    def build_model(self, key, model, dataloaders, seed):
        import torch

        net = super().build_model(key, model, dataloaders, seed)
        stage1 = {k: key[k] for k in Classifier.primary_key}
        net.load_state_dict(Classifier().load_state_dict(stage1))
        torch.manual_seed(seed + 1)  # fresh, seeded weights above conv3_1
        net.reinitialise_after_shared_block()
        return net
