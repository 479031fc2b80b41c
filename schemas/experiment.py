"""Experiments and model families: which registry rows make up each family of the paper.

A family is a named set of (model config, trainer config) pairs times seeds, of one kind
(Baseline, Oracle, MTL-Monkey, ...). Families scope what the multi-task stage trains (only
the pairs and seeds a family names, with responses of the family's kind), and later stages
aggregate over a family's seeds (robustness scores) and over its configs (the ratio sweep).
Families may share trained models: the MTL-Monkey family at 1:1 and the MTL-Monkey ratio
sweep both point at the same 1:1 models, which are trained once.
"""

from __future__ import annotations

import datajoint as dj

from .connection import make_schema
from .registry import ModelConfig, Seed, TrainerConfig  # noqa: F401 (definitions name them)

schema = make_schema("experiment")

KINDS = ("baseline", "oracle", "monkey_predictor", "mtl_monkey", "mtl_oracle", "mtl_shuffled")


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
    definition = """
    # a model family of an experiment: configurations times seeds of one kind
    -> Experiment
    family : varchar(32)                # e.g. Baseline, MTL-Monkey, MTL-Monkey ratio sweep
    ---
    kind : enum('baseline', 'oracle', 'monkey_predictor', 'mtl_monkey', 'mtl_oracle', 'mtl_shuffled')  # what the family trains
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
               description: str = "") -> dict:
        """Insert (idempotently) a family with its configs and seeds; return its key."""
        if kind not in KINDS:
            raise ValueError(f"family {family!r}: kind {kind!r} is not one of {KINDS}")
        key = {"experiment": experiment, "family": family}
        with cls.connection.transaction:
            Experiment.insert1({"experiment": experiment}, skip_duplicates=True)
            cls.insert1({**key, "kind": kind, "description": description[:255]}, skip_duplicates=True)
            Seed.insert([(s,) for s in seeds], skip_duplicates=True)
            cls.Config.insert([{**key, **model, **trainer} for model, trainer in configs], skip_duplicates=True)
            cls.Replicate.insert([{**key, "seed": s} for s in seeds], skip_duplicates=True)
        return key

    @staticmethod
    def plan(kind: str):
        """(model config, trainer config, seed) combinations that families of ``kind`` ask for."""
        return (Family.Config * Family.Replicate & (Family & {"kind": kind}).proj()).proj()
