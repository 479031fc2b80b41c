"""Experiments and model families: which registry rows make up each family of the paper.

A family is a named set of (model config, trainer config) pairs times seeds, of one kind
(Baseline, Oracle, MTL-Monkey, ...). Families scope what the multi-task stage trains (only
the pairs and seeds a family names, with responses of the family's kind), and later stages
aggregate over a family's seeds (robustness scores) and over its configs (the ratio sweep).
Families may share trained models: the MTL-Monkey family at 1:1 and the MTL-Monkey ratio
sweep both point at the same 1:1 models, which are trained once.

A family belongs to one image dataset and, where its models learn from recordings
(Monkey Predictor, MTL-*), one neural dataset: a database that holds a virtual monkey and
a real recording, or two image sets, keeps their models apart in every aggregate.
"""

from __future__ import annotations

import datajoint as dj

from . import kinds
from .connection import make_schema
from .images import ImageDataset  # noqa: F401 (definitions name them)
from .recording import NeuralDataset  # noqa: F401
from .registry import ModelConfig, RegistrationError, Seed, TrainerConfig  # noqa: F401

schema = make_schema("experiment")

#: what a family can train (schemas.kinds): one per kind that forms a family, one per MTL producer
KINDS = kinds.FAMILY_KINDS
#: kinds whose models learn from recordings: their families name a neural dataset
NEURAL_KINDS = kinds.NEURAL_FAMILY_KINDS


@schema
class Experiment(dj.Manual):
    definition = """
    # a named experiment: the families of one profile (demo, paper) or of a user's study
    experiment : varchar(32)            # e.g. demo, paper
    ---
    description = "" : varchar(255)     # free text
    """


@schema
class Family(dj.Manual):
    definition = f"""
    # a model family of an experiment: configurations times seeds of one kind, on one image (and neural) dataset
    -> Experiment
    family : varchar(32)                # e.g. Baseline, MTL-Monkey, MTL-Monkey ratio sweep
    ---
    kind : {kinds.enum(KINDS)}  # what the family trains
    -> ImageDataset                     # the images its classifiers train and are tested on
    -> [nullable] NeuralDataset         # the recordings its models learn from; null for Baseline and Oracle
    description = "" : varchar(255)     # free text
    """

    class Config(dj.Part):
        definition = """
        # a (model, trainer) pair trained in the family (the sweep has one per batch ratio)
        -> master
        -> ModelConfig
        -> TrainerConfig
        """

    class Replicate(dj.Part):
        definition = """
        # a seed the family's configurations are repeated with
        -> master
        -> Seed
        """

    @classmethod
    def define(cls, experiment: str, family: str, kind: str, configs: list[tuple[dict, dict]], seeds: list[int],
               image_dataset: str, neural_dataset: str | None = None, description: str = "") -> dict:
        """Insert (idempotently) a family with its configs and seeds; return its key.

        A family that exists already must name the same datasets: a family is never moved
        to other data silently.
        """
        if kind not in KINDS:
            raise RegistrationError(f"family {family!r}: kind {kind!r} is not one of {KINDS}")
        if (kind in NEURAL_KINDS) != (neural_dataset is not None):
            need = "needs a neural dataset" if kind in NEURAL_KINDS else "trains on images only and takes no neural dataset"
            raise RegistrationError(f"family {family!r}: kind {kind!r} {need}")
        key = {"experiment": experiment, "family": family}
        datasets = {"image_dataset": image_dataset, "neural_dataset": neural_dataset}
        if cls & key:
            stored = (cls & key).fetch1()
            if stored["kind"] != kind or any(stored[k] != v for k, v in datasets.items()):
                raise RegistrationError(
                    f"family {family!r} of experiment {experiment!r} exists with kind {stored['kind']!r}, image dataset "
                    f"{stored['image_dataset']!r} and neural dataset {stored['neural_dataset']!r}; name a new experiment "
                    "for other data"
                )
        with cls.connection.transaction:
            Experiment.insert1({"experiment": experiment}, skip_duplicates=True)
            cls.insert1({**key, "kind": kind, **datasets, "description": description[:255]}, skip_duplicates=True)
            Seed.insert([(s,) for s in seeds], skip_duplicates=True)
            cls.Config.insert([{**key, **model, **trainer} for model, trainer in configs], skip_duplicates=True)
            cls.Replicate.insert([{**key, "seed": s} for s in seeds], skip_duplicates=True)
        return key

    @staticmethod
    def planned(kind: str):
        """The (model config, trainer config, seed) combinations that families of ``kind`` ask
        for, with each family's image and neural dataset: a query, for restricting others."""
        return (Family & {"kind": kind}).proj("image_dataset", "neural_dataset") * Family.Config * Family.Replicate
