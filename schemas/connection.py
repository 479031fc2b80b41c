"""The process's database connection: configured from :mod:`schemas.settings`, the embedded
server (:mod:`schemas.embedded`) started where no database is named, reconnects after a
server restart, and the stage schemas bound by :func:`activate_stage`.

The settings (environment variables, ``datajoint.json``) are documented in
:mod:`schemas.settings`."""

from __future__ import annotations

import logging
import os

import datajoint as dj

from . import embedded
from .retry import TRANSIENT_ERRORS, is_connection_lost, is_transient, retry_lost_connection, retry_transient  # noqa: F401
from .settings import (  # noqa: F401 (the names callers import from here)
    DEFAULT_PREFIX,
    STORE,
    ConfigurationError,
    _file_setting,
    _store_settings,
    database_host,
    is_embedded,
    pipeline_home,
    prefix,
    project_settings,
    schema_name,
    store_settings,
)

log = logging.getLogger(__name__)


class _QuietPortabilityNotes(logging.Filter):
    """DataJoint notes a 'native type' whenever it declares a jobs table on PostgreSQL
    (it copies the key's server-side type); the tables themselves use core types."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Native type" not in record.getMessage()


logging.getLogger("datajoint").addFilter(_QuietPortabilityNotes())

_configured = False


def describe() -> str:
    """One line saying which database this process talks to (for logs and reports)."""
    if is_embedded():
        return f"embedded PostgreSQL under {pipeline_home() / 'postgres'}"
    backend = os.environ.get("DJ_BACKEND") or _file_setting("database", "backend") or "mysql"
    port = os.environ.get("DJ_PORT") or _file_setting("database", "port") or ("5432" if backend == "postgresql" else "3306")
    return f"{backend} at {database_host()}:{port}"


def describe_store() -> str:
    """One line saying where the ``artifacts`` store is (for logs and reports)."""
    spec = dj.config["stores"].get(STORE, {}) if _configured else _store_settings()[STORE]
    if spec.get("protocol") == "s3":
        return f"s3 bucket {spec.get('bucket')!r} at {spec.get('endpoint')}, under {spec.get('location', '')!r}"
    return f"{spec.get('protocol', 'file')} store at {spec.get('location')}"


def stop_embedded() -> None:
    """Close this process's connection and leave the embedded server (stopping it if last)."""
    global _configured
    if embedded.server() is None:
        return
    dj.conn().close()
    embedded.stop()
    _configured = False


def configure() -> None:
    """Apply the environment to ``dj.config``. Idempotent; called by :func:`connection`."""
    global _configured
    if _configured:
        return
    if is_embedded():
        settings = embedded.start()
    else:
        # the environment first, then datajoint.json and .secrets/ (merged by DataJoint), then defaults
        backend = os.environ.get("DJ_BACKEND") or _file_setting("database", "backend") or "mysql"
        if backend not in ("mysql", "postgresql"):
            raise ConfigurationError(f"DJ_BACKEND={backend!r}: expected 'mysql' or 'postgresql'")
        port = os.environ.get("DJ_PORT") or _file_setting("database", "port")
        try:
            port = int(port) if port else (5432 if backend == "postgresql" else 3306)
        except ValueError as err:
            raise ConfigurationError(f"DJ_PORT={port!r} is not a port number") from err
        password = os.environ.get("DJ_PASS")
        if password is None:
            stored = dj.config["database.password"]
            password = stored.get_secret_value() if hasattr(stored, "get_secret_value") else (stored or "")
        settings = {
            "host": database_host(),
            "port": port,
            "user": os.environ.get("DJ_USER") or dj.config["database.user"] or ("root" if backend == "mysql" else "postgres"),
            "password": password,
            "backend": backend,
        }
    file_tls = _file_setting("database", "use_tls")
    tls = os.environ.get("DJ_USE_TLS", "" if file_tls is None else str(file_tls)).lower()
    if tls in ("true", "1", "yes"):
        settings["use_tls"] = True
    elif tls in ("false", "0", "no") or settings["host"] in ("127.0.0.1", "localhost", "::1") or settings["host"].startswith("/"):
        settings["use_tls"] = False
    elif tls:
        raise ConfigurationError(f"DJ_USE_TLS={os.environ['DJ_USE_TLS']!r}: expected true or false")
    else:
        settings["use_tls"] = None
    dj.config["database.use_tls"] = settings["use_tls"]
    dj.config["database.backend"] = settings["backend"]
    dj.config["database.host"] = settings["host"]
    dj.config["database.port"] = settings["port"]
    dj.config["database.user"] = settings["user"]
    dj.config["database.password"] = settings["password"]
    dj.config["stores"] = {**_store_settings(), "default": STORE}
    # safemode stays as DataJoint users expect it (on: a notebook's .delete() asks first);
    # only the worker and the tests, which know what they delete, turn it off for themselves
    dj.config["loglevel"] = os.environ.get("DJ_LOG_LEVEL", "WARNING")
    _configured = True


_session_prepared: int | None = None

#: called as hook(old_connection_id, new_connection_id) after the connection was re-opened
_reconnect_hooks: list = []


def on_reconnect(hook) -> None:
    """Run ``hook(old_id, new_id)`` whenever the shared connection is re-opened (a server
    restart, a terminated backend), including DataJoint's own silent reconnects inside a query."""
    if hook not in _reconnect_hooks:
        _reconnect_hooks.append(hook)


def _connect_refreshing_the_id(self) -> None:
    """``dj.Connection.connect`` that also refreshes ``connection_id``. DataJoint reads the id
    once, when the Connection is made; after a reconnect its job reservations would carry a
    dead id, other workers would take them for lost and run the same jobs again."""
    old = getattr(self, "connection_id", None)
    _original_connect(self)
    adapter = getattr(self, "adapter", None)
    if adapter is None or getattr(self, "_conn", None) is None:
        return
    self.connection_id = adapter.get_connection_id(self._conn)
    if old is not None and old != self.connection_id:
        if adapter.backend == "mysql":  # session settings are per connection
            self.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", reconnect=False)
        for hook in list(_reconnect_hooks):
            try:
                hook(old, self.connection_id)
            except Exception as err:  # a hook must not turn a reconnect into a failure
                log.warning("after reconnecting: %s failed: %s", getattr(hook, "__name__", hook), err)


_original_connect = dj.Connection.connect
dj.Connection.connect = _connect_refreshing_the_id

def connection() -> dj.Connection:
    """The process's shared DataJoint connection, configured from the environment.

    On MySQL and MariaDB the session reads committed data: under the default REPEATABLE
    READ, InnoDB takes gap locks that make concurrent workers' short transactions (a
    checkpoint replaced here, a result inserted there) deadlock.
    """
    global _session_prepared
    configure()
    conn = dj.conn()
    if dj.config["database.backend"] == "mysql" and _session_prepared != conn.connection_id:
        conn.query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        _session_prepared = conn.connection_id
    return conn


def reconnect(wait_s: float = 300.0) -> None:
    """Re-open the connection after the server went away (a restart), waiting until it is back."""
    import time

    global _session_prepared
    deadline = time.monotonic() + wait_s
    while True:
        try:
            conn = dj.conn()
            conn.connect()  # refreshes the connection id and runs the reconnect hooks
            _session_prepared = None  # session settings (isolation level) are per connection
            connection()
            conn.query("SELECT 1")
            log.warning("reconnected to the database")
            return
        except Exception as err:  # the server is still down
            if time.monotonic() > deadline:
                raise dj.errors.LostConnectionError(f"the database did not come back within {wait_s:.0f} s: {err}") from err
            time.sleep(1.0)


def backend() -> str:
    """'postgresql' or 'mysql' (MariaDB reports as mysql)."""
    configure()
    return dj.config["database.backend"]


_owner_checked = False


#: every stage's schema, by stage name, in the order the stage modules were imported
_stage_schemas: dict[str, dj.Schema] = {}


def make_schema(stage: str) -> dj.Schema:
    """The schema of one pipeline stage, not yet bound to a database.

    Importing a stage module declares its table classes and nothing else: no connection,
    no embedded server. :func:`schemas.activate` binds each stage to ``<prefix><stage>``
    (creating what is missing), as DataJoint Elements do."""
    schema = _stage_schemas.get(stage)
    if schema is None:
        schema = _stage_schemas[stage] = dj.Schema()
    return schema


def bound_prefix() -> str | None:
    """The prefix this process's stages are bound to, or None before any is."""
    for stage, schema in _stage_schemas.items():
        if schema.is_activated() and schema.database.endswith(stage):
            return schema.database[: -len(stage)]
    return None


def activate_stage(stage: str) -> dj.Schema:
    """Bind one stage's schema to ``<PIPELINE_PREFIX><stage>`` on this process's connection.

    The first stage after ``storage`` checks that the object store belongs to this database
    (``schemas.storage``): a store another database owns is an error before any table is
    used. Activating a stage again under the same name does nothing."""
    global _owner_checked
    schema = _stage_schemas[stage]
    if schema.is_activated() and schema.database == schema_name(stage) and schema.exists:
        return schema
    if not _owner_checked and stage != "storage":
        from . import storage

        activate_stage("storage")
        _owner_checked = True
        try:
            storage.ensure_store_owner()
        except Exception:
            _owner_checked = False  # a later attempt (after the operator's fix) checks again
            raise
    schema.activate(schema_name(stage), connection=connection())
    return schema
