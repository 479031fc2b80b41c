"""Predicted responses for every image of a classification dataset: the MTL targets.

Three producers, each a foreign key of the ``ResponseSource`` catalog:

* ``FromPredictor``: a trained Monkey Predictor run on every TIN image;
* ``FromOracle``: an ``OracleReadout`` (Gaussian readouts trained on the recordings on top
  of the frozen Oracle's conv3_1) run on every TIN image;
* ``Shuffled``: another entry's responses, each unit's permuted across images.

``PredictedResponses`` holds the arrays (one per split, images x units) in the store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import datajoint as dj
import numpy as np

from pipeline.device import choose_device

from .catalog import Catalog, SyncsCatalogs
from .classifier import OracleStage2
from .connection import make_schema
from .images import ImageDataset
from .predictor import MonkeyPredictor
from .recording import NeuralDataset, readout_name
from .registry import ModelConfig, TrainerConfig, pairs_of  # noqa: F401 (definitions name them)
from .trained_model import CheckpointBase, TrainedModelBase

if TYPE_CHECKING:  # torch and pipeline.responses are imported where used: status, gc and ingest's checks start without torch
    import torch

schema = make_schema("responses")

_READOUT_PARENTS = (
    "OracleStage2",
    "NeuralDataset",
    "ModelConfig.proj(readout_model_fn='model_fn', readout_model_hash='model_hash')",
    "TrainerConfig.proj(readout_trainer_fn='trainer_fn', readout_trainer_hash='trainer_hash')",
)


@schema
class OracleReadoutCheckpoint(CheckpointBase):
    definition = CheckpointBase.definition_for(*_READOUT_PARENTS)


@schema
class OracleReadout(TrainedModelBase):
    """Gaussian readouts on the frozen Oracle's conv3_1, trained on the V1 recordings."""

    model_table = ModelConfig
    dataset_table = NeuralDataset
    trainer_table = TrainerConfig
    checkpoint_table = OracleReadoutCheckpoint
    definition = TrainedModelBase.definition_for(
        *_READOUT_PARENTS, comment="Gaussian readouts on the frozen Oracle's conv3_1 (the MTL-Oracle's producer)"
    )

    @property
    def key_source(self):
        readout_model = ModelConfig.proj(readout_model_fn="model_fn", readout_model_hash="model_hash")
        readout_trainer = TrainerConfig.proj(readout_trainer_fn="trainer_fn", readout_trainer_hash="trainer_hash")
        return (OracleStage2.proj() * NeuralDataset.proj() * readout_model * readout_trainer
                & pairs_of("oracle_readout", "readout_model_fn", "readout_trainer_fn"))

    @staticmethod
    def _readout_keys(key) -> tuple[dict, dict]:
        return ({"model_fn": key["readout_model_fn"], "model_hash": key["readout_model_hash"]},
                {"trainer_fn": key["readout_trainer_fn"], "trainer_hash": key["readout_trainer_hash"]})

    def make_fetch(self, key):
        model_key, trainer_key = self._readout_keys(key)
        return (ModelConfig().fn_config(model_key), NeuralDataset().data_description(key), TrainerConfig().fn_config(trainer_key),
                int(key["seed"]))

    def build_model(self, key, model, dataloaders, seed):
        oracle_key = {k: key[k] for k in OracleStage2.primary_key}
        oracle = OracleStage2().load_model(oracle_key, device="cpu")
        mean, std = (ImageDataset & key).fetch1("pixel_mean", "pixel_std")
        return ModelConfig().build(self._readout_keys(key)[0], dataloaders=dataloaders, seed=seed, classifier=oracle,
                                   image_mean=float(mean), image_std=float(std))

    def load_model(self, key=None, device=None) -> torch.nn.Module:
        key = (self & key).fetch1("KEY") if key is not None else self.fetch1("KEY")
        net = self.build_model(key, None, self.build_info(key), int(key["seed"]))
        net.load_state_dict(self.load_state_dict(key))
        return net.to(device or choose_device()).eval()


@schema
class Shuffle(dj.Lookup):
    definition = """
    # seeds of the shuffled control (each unit's responses permuted across images)
    shuffle_seed : int32                # seed of the permutations, mixed with each producer's seed (pipeline.responses.shuffle_seed_for)
    """
    contents = [(0,)]


def _neural_dataset_sessions(neural_dataset: str) -> list[str]:
    return [readout_name(s) for s in (NeuralDataset.Session & {"neural_dataset": neural_dataset}).to_arrays("session_id", order_by="session_id")]


@schema
class ResponseSource(Catalog, dj.Manual):
    id_attr = "responses_id"
    definition = """
    # a producer of predicted responses for every image of an image dataset
    -> ImageDataset
    responses_id : char(32)             # blake2b-128 of the producer's table and key
    ---
    producer : enum('monkey_predictor', 'oracle_readout', 'shuffled')  # what made the responses
    -> NeuralDataset                    # the recorded units the responses stand for
    producer_seed : int32               # seed of the producing model (MTL models pair their seed with it)
    """

    class FromPredictor(dj.Part):
        definition = """
        # responses of a Monkey Predictor
        -> master
        ---
        -> MonkeyPredictor
        """

    class FromOracle(dj.Part):
        definition = """
        # responses of an Oracle readout (its image dataset is the Oracle's)
        -> master
        ---
        -> OracleReadout
        """

    class Shuffled(dj.Part):
        definition = """
        # another entry's responses, each unit's permuted across images
        -> master
        ---
        -> master.proj(original_id='responses_id')
        -> Shuffle
        """

    def catalog_sources(self):
        def shuffles():
            originals = (ResponseSource & ResponseSource.FromPredictor.proj()).to_dicts()
            return [{"image_dataset": o["image_dataset"], "original_id": o["responses_id"], "shuffle_seed": s,
                     "neural_dataset": o["neural_dataset"], "producer_seed": o["producer_seed"]}
                    for o in originals for s in Shuffle.to_arrays("shuffle_seed").tolist()]

        return [
            (self.FromPredictor, MonkeyPredictor.proj() * ImageDataset.proj(),
             lambda k: {**k, "producer": "monkey_predictor", "producer_seed": k["seed"]}),
            (self.FromOracle, OracleReadout, lambda k: {**k, "producer": "oracle_readout", "producer_seed": k["seed"]}),
            (self.Shuffled, shuffles, lambda k: {**k, "producer": "shuffled"}),
        ]


@schema
class PredictedResponses(SyncsCatalogs, dj.Computed):
    definition = """
    # predicted responses of every unit to every image of the dataset
    -> ResponseSource
    ---
    n_units : int32                     # columns: units of the neural dataset, sessions in id order
    sessions : json                     # [[readout name, units], ...] in column order
    mean_response : float64             # mean over images and units (spikes per image window)
    """

    class Split(dj.Part):
        definition = """
        # the responses to one split's images, rows in the split's image order
        -> master
        -> ImageDataset.Split
        ---
        responses : <npy@artifacts>     # (images, units) float32, predicted spike counts
        """

    @property
    def key_source(self):
        # a shuffle waits for the responses it permutes
        done = set(PredictedResponses.to_arrays("responses_id").tolist())
        waiting = [{"responses_id": r["responses_id"]} for r in ResponseSource.Shuffled.to_dicts() if r["original_id"] not in done]
        return ResponseSource.proj() - waiting

    def make_fetch(self, key):
        return (ResponseSource & key).fetch1("producer", "neural_dataset")

    def make_compute(self, key, producer, neural_dataset):
        from pipeline.responses import predict_all, shuffle_per_neuron, shuffle_seed_for

        sessions = _neural_dataset_sessions(neural_dataset)
        if producer == "shuffled":
            original = {"image_dataset": key["image_dataset"], "responses_id": (ResponseSource.Shuffled & key).fetch1("original_id")}
            shuffle_seed = int((ResponseSource.Shuffled & key).fetch1("shuffle_seed"))
            seed = shuffle_seed_for(shuffle_seed, int((ResponseSource & key).fetch1("producer_seed")))
            splits = {row["split"]: np.asarray(row["responses"]) for row in (PredictedResponses.Split & original).to_dicts()}
            names = sorted(splits)
            # shuffled across all images of the dataset, then cut back into splits
            stacked = shuffle_per_neuron(np.concatenate([splits[s] for s in names]), seed)
            bounds = np.cumsum([0] + [len(splits[s]) for s in names])
            arrays = {s: stacked[bounds[i] : bounds[i + 1]] for i, s in enumerate(names)}
            counts = (PredictedResponses & original).fetch1("sessions")
        else:
            _, source_key = ResponseSource().source_of(key)
            model_table = MonkeyPredictor if producer == "monkey_predictor" else OracleReadout
            model = model_table().load_model({k: source_key[k] for k in model_table.primary_key})
            images = ImageDataset().build({"image_dataset": key["image_dataset"]})
            arrays = {s: predict_all(model, images[s].inputs, sessions, desc=f"{producer} {s}")
                      for s in ("train", "validation", "test") if s in images}
            counts = [[name, int(model.readouts[name].bias.numel())] for name in sessions]
        mean = float(np.mean(np.concatenate([a.ravel() for a in arrays.values()])))
        return counts, mean, {s: a.astype(np.float32) for s, a in arrays.items()}

    def make_insert(self, key, counts, mean, arrays):
        self.insert1({**key, "n_units": int(sum(n for _, n in counts)), "sessions": counts, "mean_response": mean})
        self.Split.insert([{**key, "split": s, "responses": a} for s, a in arrays.items()])

    def load(self, key) -> tuple[dict[str, torch.Tensor], list[tuple[str, int]]]:
        """Responses per split (float tensors) and the [(session, units)] of their columns."""
        import torch

        key = (self & key).fetch1("KEY")
        arrays = {row["split"]: torch.from_numpy(np.asarray(row["responses"])) for row in (self.Split & key).to_dicts()}
        return arrays, [(str(name), int(n)) for name, n in (self & key).fetch1("sessions")]
