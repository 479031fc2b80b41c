"""The ``TrainedModel`` template: registry entries joined, trained by a three-part make.

A concrete table sets the registry tables and its checkpoint table as class attributes. The
dataset table is either the registry's ``DatasetConfig`` or a table of the pipeline's own
data (e.g. ``recording.NeuralDataset``); either way it offers ``data_description(key)`` (a small,
hashable description read in ``make_fetch``) and ``build(key, seed=...)`` (the dataloaders)
(collaborators injected, as in sinzlab/mei) and gets its definition from them::

    @schema
    class TrainingCheckpoint(CheckpointBase):
        definition = CheckpointBase.definition_for("ModelConfig", "DatasetConfig", "TrainerConfig", "Seed")

    @schema
    class TrainedModel(TrainedModelBase):
        model_table, dataset_table, trainer_table, seed_table = ModelConfig, DatasetConfig, TrainerConfig, Seed
        checkpoint_table = TrainingCheckpoint
        definition = TrainedModelBase.definition_for(...)

``make_fetch`` reads the configurations; ``make_compute`` builds data and model and trains,
outside any transaction, writing checkpoints as it goes; ``make_insert`` stores the final
weights and removes the checkpoint row in one short transaction.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import datajoint as dj

from pipeline import provenance
from pipeline.models import data_info
from pipeline.config import resolve
from pipeline.device import choose_device

from . import settings, stop
from .settings import pipeline_home

if TYPE_CHECKING:  # torch and pipeline.training are imported where used: status, gc and ingest's checks start without torch
    import torch


def _parent_lines(parents: tuple[str, ...]) -> str:
    return "\n".join(f"    -> {name}" for name in parents)


class CheckpointBase(dj.Manual):
    """Latest checkpoint of an unfinished training job (at most one row per job)."""

    @staticmethod
    def definition_for(*parents: str) -> str:
        return f"""
    # latest checkpoint of a training job that has not finished; removed when it finishes
{_parent_lines(parents)}
    ---
    epoch : int32                   # epochs completed when the checkpoint was saved
    state : <object@artifacts>      # torch.save file: model, optimizer, scheduler, RNG, history
    saved_at = CURRENT_TIMESTAMP : datetime  # server time of the save
    """


def checkpoint_identity(model: tuple, dataset: tuple, trainer: tuple, seed: int) -> dict:
    """What a job's checkpoint belongs to: the hash of its whole configuration (builders,
    their configs, the seed) and the code version; a checkpoint of anything else is refused."""
    from pipeline.config import config_hash

    job = {"model": list(model), "dataset": list(dataset), "trainer": list(trainer), "seed": int(seed)}
    return {"config_hash": config_hash("checkpoint", job), "code_version": provenance.code_version()}


def _scratch() -> Path:
    path = pipeline_home() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)  # weights and checkpoints pass through here
    return path


class TrainedModelBase(dj.Computed):
    """Trains ``model_fn`` on ``dataset_fn`` with ``trainer_fn`` for every registry combination."""

    model_table = None
    dataset_table = None
    trainer_table = None
    seed_table = None
    checkpoint_table = None

    #: secondary attributes copied from the trainer's output (declared by ``definition_for(results=...)``)
    result_fields: tuple[str, ...] = ()

    @staticmethod
    def definition_for(*parents: str, results: str = "", comment: str = "a trained model: one registry combination, one seed") -> str:
        """The definition: ``parents`` as foreign keys, the common attributes, then ``results``
        (extra attribute lines whose values the trainer reports in its output)."""
        return f"""
    # {comment}
{_parent_lines(parents)}
    ---
    score : float64                 # the trainer's headline validation metric (named in output.metric)
    output : json                   # trainer summary: metric name, per-epoch history, resume point
    model_state : <object@artifacts>  # final weights: torch.save of the state_dict
    provenance : json               # package versions, git commit, host, device, wall time (s)
{results}
    """

    @property
    def key_source(self):
        """Every registry combination of a (builder, trainer) pair of a kind this table trains
        (schemas.kinds): entries of other functions are not paired with it."""
        from .registry import pairs_of_table

        parents = self.model_table.proj() * self.dataset_table.proj() * self.trainer_table.proj() * self.seed_table.proj()
        return parents & pairs_of_table(type(self).__name__)

    # -- the three-part make -------------------------------------------------------------
    def make_fetch(self, key):
        model = self.model_table().fn_config(key)
        dataset = self.dataset_table().data_description(key)
        trainer = self.trainer_table().fn_config(key)
        return model, dataset, trainer, int(key["seed"])

    def make_compute(self, key, model, dataset, trainer, seed):
        import torch

        from pipeline.training.checkpoint import TrainingInterrupted

        from .checkpointer import TableCheckpointer

        started = time.monotonic()
        policy = self.checkpoint_policy()  # a malformed setting fails here, before the data is loaded
        device = choose_device()
        dataloaders = self.training_data(key, seed)
        net = self.build_model(key, model, dataloaders, seed)
        trainer_fn, trainer_config = trainer
        checkpointer = TableCheckpointer(
            self.checkpoint_table(),
            self._job_key(key),
            identity=checkpoint_identity(model, dataset, trainer, seed),
            **policy,
        )
        try:
            with stop.stop_at_checkpoints():
                result = resolve(trainer_fn)(
                    model=net, dataloaders=dataloaders, seed=seed, checkpoint=checkpointer, **trainer_config
                )
        except TrainingInterrupted as interrupted:
            raise stop.WorkerStopped(f"stopped on request at epoch {interrupted.epoch}; the checkpoint is saved") from None
        tmp = Path(tempfile.mkdtemp(prefix="model-", dir=_scratch()))
        weights = tmp / "model_state.pt"
        torch.save(result.state_dict, weights)
        record = provenance.record(device, time.monotonic() - started, checkpoints_saved=checkpointer.saved_epochs)
        # what the builder needs, so that loading this model never loads its training data
        output = {**result.output, data_info.OUTPUT_KEY: data_info.describe(dataloaders)}
        return float(result.score), output, str(weights), record

    def make_insert(self, key, score, output, weights, record):
        try:
            if self & self._job_key(key):
                # another worker finished the same job first (its reservation was taken for
                # lost): the result is there; this copy is dropped
                (self.checkpoint_table() & self._job_key(key)).delete_quick()
                return
            missing = [f for f in self.result_fields if f not in output]
            if missing:
                raise KeyError(f"{type(self).__name__}: the trainer's output lacks {missing}")
            results = {f: output[f] for f in self.result_fields}
            self.insert1({**key, "score": score, "output": output, "model_state": weights, "provenance": record, **results})
            # The finished job's checkpoint row goes in the same transaction; its file is
            # unreferenced from the commit on and is removed by garbage collection.
            (self.checkpoint_table() & self._job_key(key)).delete_quick()
        finally:
            shutil.rmtree(Path(weights).parent, ignore_errors=True)

    # -- hooks and helpers ---------------------------------------------------------------
    def checkpoint_policy(self) -> dict:
        """When a job saves its state (``Checkpointer``'s arguments): after every epoch when
        ``PIPELINE_CHECKPOINT_SECONDS`` is 0, else after the first epoch that ends that long
        after training started (its data loaded) or after the last save."""
        seconds = settings.checkpoint_seconds()
        if seconds == 0:
            return {"every_epochs": 1, "every_minutes": None}
        return {"every_epochs": None, "every_minutes": seconds / 60}

    def build_model(self, key, model: tuple[str, dict], dataloaders, seed: int):
        """The network to train (stages that start from another model override this)."""
        return resolve(model[0])(dataloaders=dataloaders, seed=seed, **model[1])

    def load_data(self, key, seed: int):
        """The dataloaders of ``key``'s dataset entry."""
        return self.dataset_table().build(key, seed=seed)

    def training_data(self, key, seed: int):
        """What the trainer gets: ``load_data`` plus anything only training needs."""
        return self.load_data(key, seed)

    def _job_key(self, key) -> dict:
        return {k: key[k] for k in self.primary_key}

    def build_info(self, key):
        """What the builder of ``key``'s model needs: the DataInfo stored with it, or, for a
        row trained before DataInfo was stored, the dataloaders themselves."""
        info = (self & key).fetch1("output").get(data_info.OUTPUT_KEY)
        if info is None:
            return self.load_data(key, int(key["seed"]))
        return data_info.DataInfo.from_json(info, f"{type(self).__name__} {key}: output.{data_info.OUTPUT_KEY}")

    def load_model(self, key=None, device=None) -> torch.nn.Module:
        """Rebuild the trained network of one row with its final weights, in eval mode, on
        ``device`` (default: the pipeline's device), without loading its training data."""
        row = self & key if key is not None else self
        key = row.fetch1("KEY")
        net = self.model_table().build(key, dataloaders=self.build_info(key), seed=int(key["seed"]))
        net.load_state_dict(self.load_state_dict(key))
        return net.to(device or choose_device()).eval()

    def load_state_dict(self, key) -> dict:
        from pipeline.training.checkpoint import deserialise

        return deserialise((self & key).fetch1("model_state").read())
