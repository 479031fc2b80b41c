"""Settings: where the database, the store and the pipeline's files are, read from the environment.

Settings come from the environment first, then from the project's ``datajoint.json`` and
``.secrets/`` (DataJoint 2.x's own files, found from the current directory upwards, e.g.
``{"database": {"host": ..., "backend": ...}}`` and ``.secrets/database.password``), then
from the defaults below. Environment variables (all optional):

``DJ_HOST``, ``DJ_PORT``, ``DJ_USER``, ``DJ_PASS``, ``DJ_BACKEND``
    A database server. ``DJ_BACKEND`` is ``mysql`` (MySQL 8, MariaDB) or ``postgresql``.
    With no ``DJ_HOST`` (and no ``database.host`` in datajoint.json), an embedded PostgreSQL (PyPI ``pgserver``) is started under
    ``$PIPELINE_HOME/postgres`` and reused by every other process that asks for it.
``DJ_STORES``
    JSON object of DataJoint stores. It must define the store named ``artifacts``; without
    it, ``artifacts`` is a local directory under ``$PIPELINE_HOME/store``.
``DJ_USE_TLS``
    ``true`` or ``false``. Default: no TLS for a server on this machine (127.0.0.1,
    localhost, a socket), DataJoint's "prefer TLS" for any other.
``PIPELINE_HOME``
    Where the embedded server and local store live (default: ``.pipeline`` in the checkout
    this code runs from, whatever the current directory; for a non-editable install
    ``~/.local/share/cotrain-pipeline``).
``PIPELINE_PREFIX``
    Prefix of every schema name (default ``cotrain_``), so several pipelines or test runs
    can share one server.
``PIPELINE_CHECKPOINT_SECONDS``
    The least time between two checkpoints of one training job, in seconds (default 30).
    A job saves after the first epoch that ends this long after its training started or
    after its last save, so a worker killed outright loses at most this much plus one
    epoch; ``0`` saves after every epoch. A stop on request (SIGTERM) saves at the end of
    the current epoch whatever this says.
``PIPELINE_DEAD_GRACE_SECONDS``
    How long a reservation whose database connection is gone stays reserved before another
    worker re-queues it, in seconds (default 10): its worker may be reconnecting and about
    to adopt it. The tests that kill workers outright, where nothing reconnects, use 2.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import datajoint as dj

#: The named object store that every large artefact (checkpoint, array) goes to.
STORE = "artifacts"
DEFAULT_PREFIX = "cotrain_"
#: seconds between checkpoints of a training job: at GPU scale an epoch lasts longer, so
#: every epoch is saved; at the demo's 2-3 s epochs (and the benchmarks' 10 ms ones) a save
#: per epoch was most of the job's bookkeeping (bench/orchestration.py)
DEFAULT_CHECKPOINT_SECONDS = 30.0
#: seconds a reservation whose connection is gone is kept for a worker that may be reconnecting
DEFAULT_DEAD_GRACE_SECONDS = 10.0


class ConfigurationError(RuntimeError):
    """The environment describes a database or store that cannot be used."""


#: the checkout this package runs from (an editable install, or PYTHONPATH)
_CHECKOUT = Path(__file__).resolve().parents[1]


def pipeline_home() -> Path:
    """``$PIPELINE_HOME``; else ``.pipeline`` in the checkout this code runs from; else, for a
    non-editable install, ``$XDG_DATA_HOME/cotrain-pipeline`` (``~/.local/share/...``).
    Never the current directory: a command run from another folder sees the same database."""
    if os.environ.get("PIPELINE_HOME"):
        return Path(os.environ["PIPELINE_HOME"]).expanduser().resolve()
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "schemas").is_dir():
        return _CHECKOUT / ".pipeline"
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "cotrain-pipeline"


def project_settings() -> dict:
    """The ``datajoint.json`` DataJoint loaded at import (found from the current directory
    upwards), as a dict; empty if there is none. Its ``.secrets/`` were merged by DataJoint."""
    path = getattr(dj.config, "_config_path", None)
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigurationError(f"{path}: not a readable JSON settings file ({err})") from None
    return data if isinstance(data, dict) else {}


def _file_setting(group: str, name: str):
    data = project_settings()
    nested = data.get(group)
    if isinstance(nested, dict) and name in nested:
        return nested[name]
    return data.get(f"{group}.{name}")


def database_host() -> str | None:
    """``DJ_HOST``, else ``database.host`` of datajoint.json, else None (the embedded default)."""
    return os.environ.get("DJ_HOST") or _file_setting("database", "host") or None


def prefix() -> str:
    value = os.environ.get("PIPELINE_PREFIX", DEFAULT_PREFIX)
    if not value.replace("_", "").isalnum() or value != value.lower():
        raise ConfigurationError(
            f"PIPELINE_PREFIX={value!r}: use lower-case letters, digits and underscores only"
        )
    return value


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(f"{variable}={raw!r}: expected a number of seconds >= 0")
    return value


def checkpoint_seconds() -> float:
    """``PIPELINE_CHECKPOINT_SECONDS``: the least time between two checkpoints of one job (s)."""
    return _seconds("PIPELINE_CHECKPOINT_SECONDS", DEFAULT_CHECKPOINT_SECONDS)


def dead_grace_seconds() -> float:
    """``PIPELINE_DEAD_GRACE_SECONDS``: how long a reservation of a gone connection is kept (s)."""
    return _seconds("PIPELINE_DEAD_GRACE_SECONDS", DEFAULT_DEAD_GRACE_SECONDS)


def schema_name(stage: str) -> str:
    return f"{prefix()}{stage}"


def is_embedded() -> bool:
    return not database_host()


def store_settings() -> dict:
    """The DataJoint stores: ``DJ_STORES``, else datajoint.json's, else a local ``artifacts``."""
    raw = os.environ.get("DJ_STORES")
    if raw:
        try:
            stores = json.loads(raw)
        except json.JSONDecodeError as err:
            raise ConfigurationError(f"DJ_STORES is not valid JSON: {err}") from err
        if not isinstance(stores, dict) or STORE not in stores:
            raise ConfigurationError(
                f"DJ_STORES must be a JSON object that defines the store {STORE!r}; "
                f"it defines {sorted(stores) if isinstance(stores, dict) else type(stores).__name__}"
            )
        return stores
    from_file = project_settings().get("stores")
    if isinstance(from_file, dict) and STORE in from_file:
        # datajoint.json's stores, with the secrets DataJoint merged in from .secrets/
        return {name: dict(spec) for name, spec in dj.config["stores"].items() if name != "default" and isinstance(spec, dict)}
    location = pipeline_home() / "store"
    location.mkdir(parents=True, exist_ok=True)
    location.chmod(0o700)  # the local store is this user's alone
    return {STORE: {"protocol": "file", "location": str(location)}}



_store_settings = store_settings  # the name older callers use
