"""The configuration registry: nnfabrik's Model / Dataset / Trainer / Seed pattern on DataJoint 2.x.

Each entry names a builder function by its dotted path and holds the keyword arguments it
is called with. The primary key is the path plus a hash of a canonical, type-tagged
serialisation of the arguments (``pipeline.config.config_hash``), so the same configuration
always maps to the same row and different ones never collide.

Builders are called as
    dataset_fn(seed=..., **dataset_config)                              -> dataloaders
    model_fn(dataloaders=..., seed=..., **model_config)                 -> torch.nn.Module
    trainer_fn(model=..., dataloaders=..., seed=..., checkpoint=..., **trainer_config)
                                                                        -> TrainingResult
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import datajoint as dj

from pipeline.config import check_config, config_hash, plain, resolve

from .connection import make_schema

schema = make_schema("registry")


class RegistrationError(ValueError):
    """A registration (family, target set, profile) that was refused; nothing of it was stored."""


class _ConfigRegistry:
    """Shared behaviour of the three configuration tables; ``_kind`` prefixes attribute names."""

    _kind: str
    _reserved: tuple[str, ...]

    @classmethod
    def _attr(cls, name: str) -> str:
        return f"{cls._kind}_{name}"

    def add_entry(self, fn: str, config: Mapping[str, Any] | None = None, comment: str = "") -> dict:
        """Register ``fn`` with ``config`` and return the entry's primary key.

        The function must import and every config key must be one of its parameters: an
        unknown key raises ``pipeline.config.ConfigError`` naming it. Adding an existing
        entry again returns its key.
        """
        config = dict(config or {})
        check_config(fn, config, self._reserved)
        key = {self._attr("fn"): fn, self._attr("hash"): config_hash(fn, config)}
        if not (self & key):
            self.insert1(
                {**key, self._attr("config"): plain(config), self._attr("comment"): comment[:255]},
                skip_duplicates=True,  # another process may have added it meanwhile
            )
        return key

    def fn_config(self, key: Mapping[str, Any]) -> tuple[str, dict]:
        """(dotted path, config) of the entry that ``key`` selects."""
        fn, config = (self & dict(key)).fetch1(self._attr("fn"), self._attr("config"))
        return fn, dict(config)

    def build(self, key: Mapping[str, Any], **passed):
        """Call the entry's function with its config and the arguments the pipeline passes."""
        fn, config = self.fn_config(key)
        return resolve(fn)(**passed, **config)


@schema
class ModelConfig(_ConfigRegistry, dj.Manual):
    _kind = "model"
    _reserved = ("dataloaders", "seed")
    definition = """
    # a model builder and its configuration
    model_fn : varchar(100)           # dotted path of the builder, e.g. pipeline.models.mlp.build_mlp
    model_hash : char(32)             # blake2b-128 (hex) of the type-tagged canonical config
    ---
    model_config : json               # keyword arguments of the builder (JSON values)
    model_comment = "" : varchar(255) # free text
    model_created = CURRENT_TIMESTAMP : datetime  # when the entry was added (server time)
    """


@schema
class DatasetConfig(_ConfigRegistry, dj.Manual):
    _kind = "dataset"
    _reserved = ("seed",)
    definition = """
    # a dataset loader and its configuration
    dataset_fn : varchar(100)           # dotted path of the loader, e.g. pipeline.data.synthetic.gaussian_clusters
    dataset_hash : char(32)             # blake2b-128 (hex) of the type-tagged canonical config
    ---
    dataset_config : json               # keyword arguments of the loader (JSON values)
    dataset_comment = "" : varchar(255) # free text
    dataset_created = CURRENT_TIMESTAMP : datetime  # when the entry was added (server time)
    """


@schema
class TrainerConfig(_ConfigRegistry, dj.Manual):
    _kind = "trainer"
    _reserved = ("model", "dataloaders", "seed", "checkpoint")
    definition = """
    # a training function and its configuration
    trainer_fn : varchar(100)           # dotted path of the trainer, e.g. pipeline.training.train_classifier
    trainer_hash : char(32)             # blake2b-128 (hex) of the type-tagged canonical config
    ---
    trainer_config : json               # keyword arguments of the trainer (JSON values)
    trainer_comment = "" : varchar(255) # free text
    trainer_created = CURRENT_TIMESTAMP : datetime  # when the entry was added (server time)
    """


@schema
class Seed(dj.Lookup):
    definition = """
    # random seeds; profiles insert the seeds they repeat each model over
    seed : int32   # seed of initialisation and data order (integer)
    """
