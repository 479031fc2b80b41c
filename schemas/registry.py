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

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import datajoint as dj

from pipeline.config import check_config, config_hash, function_path, plain, resolve

from . import kinds
from .connection import make_schema

#: (role, function, hash) -> (function, config as JSON) of entries whose hash is their content's
_CONTENT_ADDRESSED: dict[tuple[str, str, str], tuple[str, str]] = {}

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

    def add_entry(self, fn: str | Callable | None = None, config: Mapping[str, Any] | None = None, comment: str = "", *,
                  kind: str | Sequence[str] | None = None, skip_duplicates: bool | None = None, **aliases) -> dict:
        """Register ``fn`` with ``config`` and return the entry's primary key.

        ``fn`` is a dotted path or the function itself (it must live in an importable module,
        so that a worker on another host resolves it by name). nnfabrik's keyword names are
        accepted too: ``model_fn=``, ``model_config=``, ``model_comment=`` (and ``dataset_*``,
        ``trainer_*``).

        A model builder or trainer belongs to the model kinds that will train it
        (:mod:`schemas.kinds`): its own kinds if it comes with the pipeline, those it was
        declared with (:func:`schemas.kinds.declare`), or ``kind=``. A function that no
        table would train is refused here, never left untrained in silence.

        The function must import and every config key must be one of its parameters: an
        unknown key raises ``pipeline.config.ConfigError`` naming it. Adding an existing
        entry again returns its key, unless ``skip_duplicates=False`` (nnfabrik's default
        there) asks for an error instead.
        """
        fn, config, comment = self._nnfabrik_aliases(fn, config, comment, aliases)
        fn_path = function_path(fn)
        config = dict(config or {})
        function = check_config(fn_path, config, self._reserved)
        new_kinds = self._kinds_to_record(fn_path, function, kind)
        key = {self._attr("fn"): fn_path, self._attr("hash"): config_hash(fn_path, config)}
        exists = bool(self & key)
        if exists and skip_duplicates is False:
            raise RegistrationError(f"{type(self).__name__}: {fn_path} with this config exists already ({key}); "
                                    "pass skip_duplicates=True to get its key")
        with self.connection.transaction:
            if not exists:
                self.insert1(
                    {**key, self._attr("config"): plain(config), self._attr("comment"): comment[:255]},
                    skip_duplicates=True,  # another process may have added it meanwhile
                )
            FunctionKind.insert([{"fn_role": self._kind, "fn": fn_path, "kind": k} for k in new_kinds],
                                skip_duplicates=True)
        return key

    def _nnfabrik_aliases(self, fn, config, comment, aliases: dict):
        names = {self._attr("fn"): "fn", self._attr("config"): "config", self._attr("comment"): "comment"}
        unknown = sorted(set(aliases) - set(names))
        if unknown:
            raise TypeError(f"{type(self).__name__}.add_entry() got unexpected keyword argument(s) {unknown}")
        given = {"fn": fn, "config": config, "comment": comment}
        for alias, name in names.items():
            if alias in aliases:
                if given[name] not in (None, ""):
                    raise TypeError(f"{type(self).__name__}.add_entry(): {name} given twice (also as {alias}=)")
                given[name] = aliases[alias]
        if given["fn"] is None:
            raise TypeError(f"{type(self).__name__}.add_entry() needs the function ({self._attr('fn')}=)")
        return given["fn"], given["config"], given["comment"] or ""

    def _kinds_to_record(self, fn_path: str, function: Callable, kind) -> tuple[str, ...]:
        """The kinds to store for ``fn_path`` (its own kinds need no row); refuse an orphan."""
        asked = (kind,) if isinstance(kind, str) else tuple(kind or ())
        if self._kind == "dataset":
            # dataset entries feed the generic kind's table (TrainedModel), whatever their loader
            if set(asked) - {"generic"}:
                raise RegistrationError(f"dataset loader {fn_path}: only the generic kind (TrainedModel) trains on "
                                        f"DatasetConfig entries, not {kind!r}")
            return ()
        declared = tuple(getattr(function, kinds.DECLARED_ATTR, ()))
        for name in asked + declared:
            if name not in kinds.BY_NAME:
                raise RegistrationError(f"{fn_path}: unknown kind {name!r}; kinds are {sorted(kinds.BY_NAME)}")
        if self._kind == "model":
            borrowed = [n for n in asked + declared if not kinds.get(n).builds]
            if borrowed:
                raise RegistrationError(f"builder {fn_path}: kind(s) {borrowed} build no model of their own (the Oracle "
                                        "continues its stage-1 model); register the builder as oracle_stage1")
        own = kinds.builtin_kinds(self._kind, fn_path)
        if not (asked or declared or own or registered_kinds(self._kind, fn_path)):
            role = "builder" if self._kind == "model" else "trainer"
            raise RegistrationError(
                f"{role} {fn_path}: no table would train it; name the model kind it is trained as with kind= "
                f"(one of {sorted(kinds.BY_NAME)}) or declare it with schemas.kinds.declare(...)"
            )
        return tuple(n for n in dict.fromkeys(asked + declared) if n not in own)

    def fn_config(self, key: Mapping[str, Any]) -> tuple[str, dict]:
        """(dotted path, config) of the entry that ``key`` selects.

        An entry is content-addressed: its hash is the hash of its function and config, so
        outside a transaction a process reads it once (a job read its three entries seven
        times, a third of its queries). Inside one it is always read: that is DataJoint's
        check, in a result's insert, that the inputs did not change while it computed, and
        an entry edited in place fails it there (the fresh read then replaces the one kept).
        A row whose stored hash is not its content's is never kept."""
        fn_attr, hash_attr = self._attr("fn"), self._attr("hash")
        address = (self._kind, key.get(fn_attr), key.get(hash_attr))
        known = None if self.connection.in_transaction else _CONTENT_ADDRESSED.get(address)
        if known is None:
            fn, config = (self & dict(key)).fetch1(fn_attr, self._attr("config"))
            known = (fn, json.dumps(config))
            if None not in address and fn == address[1] and config_hash(fn, config) == address[2]:
                _CONTENT_ADDRESSED[address] = known
            else:
                _CONTENT_ADDRESSED.pop(address, None)
        return known[0], json.loads(known[1])  # a fresh copy: a builder may change what it is given

    def data_description(self, key: Mapping[str, Any]) -> tuple[str, dict]:
        """What a trained model's job records of its dataset entry (the protocol every dataset
        table of ``TrainedModelBase`` offers): the loader's path and config."""
        return self.fn_config(key)

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


@schema
class FunctionKind(dj.Manual):
    definition = """
    # a lab's builder or trainer and a model kind it is trained as (the pipeline's own are declared in schemas.kinds)
    fn_role : enum('model', 'trainer')  # a model builder (ModelConfig) or a trainer (TrainerConfig)
    fn : varchar(100)                   # dotted path of the function
    kind : varchar(32)                  # a kind of schemas.kinds, e.g. baseline, mtl
    ---
    assigned = CURRENT_TIMESTAMP : datetime  # when it was registered (server time)
    """


def registered_kinds(role: str, fn_path: str) -> tuple[str, ...]:
    """The kinds stored for a lab's function (not the pipeline's own, see schemas.kinds)."""
    return tuple((FunctionKind & {"fn_role": role, "fn": fn_path}).to_arrays("kind").tolist())


def _lab_functions(kind_names: Sequence[str]) -> dict[tuple[str, str], list[str]]:
    """(role, kind) -> the lab's functions registered as that kind, for all ``kind_names`` in
    one query (a key source asks for every kind of its table each time it is read)."""
    rows = (FunctionKind & [{"kind": k} for k in kind_names]).to_dicts(order_by="fn")
    found: dict[tuple[str, str], list[str]] = {}
    for row in rows:
        found.setdefault((row["fn_role"], row["kind"]), []).append(row["fn"])
    return found


def functions_of(kind: str, role: str, lab: Mapping[tuple[str, str], list[str]] | None = None) -> tuple[str, ...]:
    """Every builder (``role="model"``) or trainer of ``kind``: the pipeline's own, then the
    lab's (read from ``lab``, :func:`_lab_functions`'s answer, when given)."""
    recipe = kinds.get(kind)
    own = recipe.builders if role == "model" else recipe.trainers
    lab = _lab_functions([kind]) if lab is None else lab
    return tuple(dict.fromkeys([*own, *lab.get((role, kind), [])]))


def pairs_of(kind: str, model_attr: str = "model_fn", trainer_attr: str = "trainer_fn",
             lab: Mapping[tuple[str, str], list[str]] | None = None) -> list[dict]:
    """Restriction dicts: every (builder, trainer) combination of ``kind``."""
    lab = _lab_functions([kind]) if lab is None else lab
    return [{model_attr: m, trainer_attr: t} for m in functions_of(kind, "model", lab) for t in functions_of(kind, "trainer", lab)]


def pairs_of_table(table: str) -> list[dict]:
    """Every (builder, trainer) combination that table ``table`` (a class name) trains."""
    names = [k.name for k in kinds.of_table(table)]
    lab = _lab_functions(names)
    return [pair for name in names for pair in pairs_of(name, lab=lab)]


def kind_of(table: str, model_fn: str, trainer_fn: str) -> str:
    """The kind that table ``table`` trains a (builder, trainer) pair as (the first declared)."""
    for k in kinds.of_table(table):
        if model_fn in functions_of(k.name, "model") and trainer_fn in functions_of(k.name, "trainer"):
            return k.name
    raise LookupError(f"{table} trains no kind with builder {model_fn} and trainer {trainer_fn}")
