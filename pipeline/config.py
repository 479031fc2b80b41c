"""Configurations of builder functions: canonical hashing and validation against signatures.

The registry keys every model, dataset and trainer configuration by the dotted path of its
builder function plus a hash of the configuration. nnfabrik's ``make_hash`` hashed ``str()``
of the values, so ``1`` and ``"1"``, a list and a tuple, ``None`` and ``"None"`` collided.
Here every value is serialised with its type, and mappings are sorted by key, so two
configurations share a hash exactly when they are equal values of equal types.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A configuration that does not fit its builder function."""


def _tagged(value: Any, path: str) -> Any:
    """A JSON-serialisable tree in which every scalar carries its type."""
    if value is None:
        return ["none"]
    if isinstance(value, (bool, np.bool_)):
        return ["bool", bool(value)]
    if isinstance(value, (int, np.integer)):
        return ["int", int(value)]
    if isinstance(value, (float, np.floating)):
        value = float(value)
        # repr keeps every bit; nan/inf have no JSON literal
        return ["float", repr(value) if math.isfinite(value) else str(value)]
    if isinstance(value, str):
        return ["str", value]
    if isinstance(value, tuple):
        return ["tuple", [_tagged(v, f"{path}[{i}]") for i, v in enumerate(value)]]
    if isinstance(value, list):
        return ["list", [_tagged(v, f"{path}[{i}]") for i, v in enumerate(value)]]
    if isinstance(value, Mapping):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"config key {path}{k!r} is a {type(k).__name__}; keys must be strings")
            items.append([k, _tagged(v, f"{path}{k}.")])
        return ["dict", sorted(items, key=lambda kv: kv[0])]
    raise ConfigError(
        f"config value at {path.rstrip('.') or '<root>'} has type {type(value).__name__}; "
        "use None, bool, int, float, str, list, tuple or dict"
    )


def canonical_json(config: Mapping[str, Any]) -> str:
    """The canonical, type-tagged serialisation that :func:`config_hash` hashes."""
    return json.dumps(_tagged(dict(config), ""), separators=(",", ":"), ensure_ascii=False)


def config_hash(fn_path: str, config: Mapping[str, Any]) -> str:
    """32 hex characters identifying (builder function, configuration)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(fn_path.encode())
    digest.update(b"\0")
    digest.update(canonical_json(config).encode())
    return digest.hexdigest()


def plain(config: Mapping[str, Any]) -> dict:
    """The configuration as plain JSON values (tuples become lists, numpy scalars Python)."""
    _tagged(dict(config), "")  # validates types, naming the offending key
    return json.loads(json.dumps(dict(config), default=lambda v: v.item()))


#: module prefixes whose functions a registry row may name, besides a lab's own ones
BUILTIN_FUNCTION_PREFIXES = ("pipeline.",)


def allowed_function_prefixes() -> tuple[str, ...]:
    """``pipeline.`` and the prefixes a lab adds in ``PIPELINE_FUNCTION_PREFIXES``
    (comma-separated, e.g. ``mylab.models,mylab.trainers``); each ends at a module boundary."""
    import os

    extra = [p.strip() for p in os.environ.get("PIPELINE_FUNCTION_PREFIXES", "").split(",") if p.strip()]
    return BUILTIN_FUNCTION_PREFIXES + tuple(p if p.endswith(".") else p + "." for p in extra)


def function_path(fn: str | Callable) -> str:
    """The dotted path of a function given by path or as the function itself.

    A registry row names its function so that any worker, on any host, can import it: a
    function defined in ``__main__``, a notebook or another function has no such name.
    """
    if isinstance(fn, str):
        return fn
    if not callable(fn):
        raise ConfigError(f"a function is given by its dotted path or as a function, not as a {type(fn).__name__}")
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname or "." in qualname:
        raise ConfigError(f"{qualname or fn!r} (module {module!r}) has no importable dotted path; define it at the top "
                          "level of a module on PYTHONPATH and register it by that path")
    path = f"{module}.{qualname}"
    if resolve(path) is not fn:
        raise ConfigError(f"{path} does not import as the function given (it was redefined or wrapped)")
    return path


def resolve(fn_path: str) -> Callable:
    """Import ``package.module.function`` and return the function.

    Only functions under the allowed prefixes are imported: a registry row is data, and
    naming ``torch.hub.load`` or ``os.system`` in one must not run it (importing a module
    runs code too, so the check comes first)."""
    if not isinstance(fn_path, str):
        raise ConfigError(f"a function is named by its dotted path, not by a {type(fn_path).__name__}")
    module_name, _, attr = fn_path.rpartition(".")
    if not module_name:
        raise ConfigError(f"{fn_path!r} is not a dotted path 'package.module.function'")
    prefixes = allowed_function_prefixes()
    if not fn_path.startswith(prefixes):
        raise ConfigError(f"{fn_path!r} is outside the allowed function prefixes {list(prefixes)}; a lab adds its own "
                          "modules with PIPELINE_FUNCTION_PREFIXES (comma-separated)")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(f"cannot import module {module_name!r} of {fn_path!r}: {err}") from err
    try:
        fn = getattr(module, attr)
    except AttributeError:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r} (from {fn_path!r})") from None
    if not callable(fn):
        raise ConfigError(f"{fn_path!r} is a {type(fn).__name__}, not a function")
    return fn


def check_config(fn_path: str, config: Mapping[str, Any], reserved: tuple[str, ...]) -> Callable:
    """Check that ``config`` can be passed to the builder; return the builder.

    ``reserved`` names the parameters that the pipeline itself passes (``seed``,
    ``dataloaders``, ...): the builder must accept them, and a config may not set them.
    Every config key must be a named parameter of the builder: a misspelled key is an
    error that names it, never silently swallowed by ``**kwargs``.
    """
    fn = resolve(fn_path)
    params = inspect.signature(fn).parameters
    named = {
        name
        for name, p in params.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    missing_reserved = [r for r in reserved if r not in named]
    if missing_reserved:
        raise ConfigError(f"{fn_path} must accept the parameter(s) {missing_reserved} that the pipeline passes")
    clash = sorted(set(config) & set(reserved))
    if clash:
        raise ConfigError(f"config for {fn_path} sets {clash}, which the pipeline passes itself")
    unknown = sorted(set(config) - named)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {unknown} for {fn_path}; its parameters are {sorted(named - set(reserved))}"
        )
    required = [
        name
        for name, p in params.items()
        if name in named and name not in reserved and p.default is inspect.Parameter.empty
    ]
    absent = [name for name in required if name not in config]
    if absent:
        raise ConfigError(f"config for {fn_path} lacks required key(s) {absent}")
    _tagged(dict(config), "")
    return fn
