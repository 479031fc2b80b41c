"""Configure DataJoint from the environment: the one place that knows where the database is.

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
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from pathlib import Path

import datajoint as dj

log = logging.getLogger(__name__)


class _QuietPortabilityNotes(logging.Filter):
    """DataJoint notes a 'native type' whenever it declares a jobs table on PostgreSQL
    (it copies the key's server-side type); the tables themselves use core types."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Native type" not in record.getMessage()


logging.getLogger("datajoint").addFilter(_QuietPortabilityNotes())

#: The named object store that every large artefact (checkpoint, array) goes to.
STORE = "artifacts"
DEFAULT_PREFIX = "cotrain_"

_embedded_server = None  # keeps the pgserver handle (and its atexit cleanup) alive
_configured = False


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


def schema_name(stage: str) -> str:
    return f"{prefix()}{stage}"


def is_embedded() -> bool:
    return not database_host()


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


def _start_embedded_postgres() -> dict:
    """Start (or join) the embedded PostgreSQL server and return connection settings.

    pgserver keeps a list of the processes using a data directory under an inter-process
    lock, so a second process reuses the running server; the last one to exit stops it.
    """
    global _embedded_server
    import pgserver

    _harden_pgserver()
    pgdata = pipeline_home() / "postgres"
    pgdata.mkdir(parents=True, exist_ok=True)
    _claim_data_directory(pgdata)
    _forget_dead_users(pgdata)
    _embedded_server = pgserver.get_server(pgdata, cleanup_mode="stop")
    import platform

    _atomic_write(pgdata / HOST_FILE, platform.node())  # after initdb, which wants an empty directory
    uri = urllib.parse.urlparse(_embedded_server.get_uri())
    query = urllib.parse.parse_qs(uri.query)
    socket_dir = query["host"][0]
    _make_private(Path(socket_dir), pgdata)
    return {
        "host": socket_dir,
        "port": uri.port or 5432,
        "user": uri.username or "postgres",
        "password": "",
        "backend": "postgresql",
    }


HOST_FILE = ".pipeline-host"


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _harden_pgserver() -> None:
    """pgserver's list of the processes using a server is rewritten in place: a process killed
    mid-write leaves it truncated, and the next start fails on it. Write it atomically, and
    read a damaged one as "someone we cannot name still uses the server": pid 1, which never
    exits, so the server is never stopped under a process that lost its entry."""
    from pgserver import utils

    if getattr(utils.DiskList, "_hardened", False):
        return

    def put(self, values) -> None:
        _atomic_write(self.path, json.dumps(values))

    def get(self):
        if not self.path.exists():
            return []
        try:
            values = json.loads(self.path.read_text())
            if isinstance(values, list) and all(isinstance(v, int) for v in values):
                return values
        except ValueError:
            pass
        log.warning("%s was damaged; the embedded server is kept running for users it can no longer name", self.path)
        return [1]

    utils.DiskList.put, utils.DiskList.get, utils.DiskList._hardened = put, get, True

    from pgserver import postgres_server

    choose_socket_dir = postgres_server.find_suitable_socket_dir

    def private_socket_dir(pgdata, runtime_path):
        # called after initdb and before every start: the server then creates its socket
        # owner-only, so there is no moment in which another user can reach it (trust
        # authentication makes whoever reaches the socket a superuser)
        _set_socket_permissions(Path(pgdata))
        return choose_socket_dir(pgdata, runtime_path)

    postgres_server.find_suitable_socket_dir = private_socket_dir


SOCKET_SETTING = "unix_socket_permissions = 0700  # written by the pipeline: the socket is the server user's alone\n"


def _set_socket_permissions(pgdata: Path) -> None:
    conf = pgdata / "postgresql.auto.conf"
    text = conf.read_text() if conf.exists() else ""
    if SOCKET_SETTING not in text:
        _atomic_write(conf, text + SOCKET_SETTING)


def _is_postmaster_of(pid: int, pgdata: Path) -> bool:
    import psutil

    try:
        process = psutil.Process(pid)
        return process.name() in ("postgres", "postmaster") and str(pgdata) in " ".join(process.cmdline())
    except psutil.AccessDenied:
        return True  # cannot tell: never remove the pid file of what may be a live server
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False


def _claim_data_directory(pgdata: Path) -> None:
    """Refuse a data directory whose server runs on another host (a PIPELINE_HOME shared over
    a network file system: two postmasters on one data directory corrupt it), and remove a
    ``postmaster.pid`` whose pid now belongs to some other process (it would block the start)."""
    import platform

    here = platform.node()
    host_file, pid_file = pgdata / HOST_FILE, pgdata / "postmaster.pid"
    if pid_file.exists():
        owner = host_file.read_text().strip() if host_file.exists() else here
        if owner != here:
            raise ConfigurationError(
                f"{pgdata}: the embedded database is running on host {owner!r} (postmaster.pid is present); this host is "
                f"{here!r}. Two hosts cannot share one PIPELINE_HOME: give this one its own PIPELINE_HOME, or set DJ_HOST "
                "to a database server"
            )
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (ValueError, IndexError):
            pid = None
        if pid is None or not _is_postmaster_of(pid, pgdata):
            log.warning("%s names pid %s, which is not this data directory's server: removed as stale", pid_file, pid)
            pid_file.unlink(missing_ok=True)


def _make_private(socket_dir: Path, pgdata: Path) -> None:
    """The socket directory admits only the server's user (trust authentication: whoever
    reaches the socket is a superuser). pgserver opens a runtime socket directory to
    everyone when the data directory's path is too long for a socket, or when run as root."""
    if socket_dir == pgdata or not socket_dir.is_dir():
        return
    if os.geteuid() == 0:
        import pwd

        entry = pwd.getpwnam("pgserver")  # the user pgserver runs the server as under root
        os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
    socket_dir.chmod(0o700)


def _forget_dead_users(pgdata: Path) -> None:
    """Drop processes that died without saying goodbye (SIGKILL) from pgserver's user list,
    so that the last live user still stops the server when it exits."""
    import psutil
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList

    if not (pgdata / ".handle_pids.json").exists():
        return  # a fresh data directory must stay empty for initdb
    with PostgresServer._lock:
        users = DiskList(pgdata / ".handle_pids.json")
        users.put([pid for pid in users.get() if psutil.pid_exists(pid)])


def stop_embedded() -> None:
    """Close this process's connection and leave the embedded server (stopping it if last)."""
    global _embedded_server, _configured
    if _embedded_server is None:
        return
    dj.conn().close()
    _forget_dead_users(_embedded_server.pgdata)
    _embedded_server.cleanup()
    _embedded_server, _configured = None, False


def _store_settings() -> dict:
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


def configure() -> None:
    """Apply the environment to ``dj.config``. Idempotent; called by :func:`connection`."""
    global _configured
    if _configured:
        return
    if is_embedded():
        settings = _start_embedded_postgres()
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

#: messages of database errors that say "try again", not "this is wrong"
TRANSIENT_ERRORS = ("Deadlock found", "deadlock detected", "Lock wait timeout", "could not serialize access")


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


def is_transient(error: BaseException) -> bool:
    return any(marker in str(error) for marker in TRANSIENT_ERRORS)


def retry_transient(action, attempts: int = 5, pause_s: float = 0.2):
    """Run ``action()``; on a deadlock or lock timeout, wait a little and run it again."""
    import random
    import time

    for attempt in range(attempts):
        try:
            return action()
        except Exception as err:
            if not is_transient(err) or attempt == attempts - 1:
                raise
            time.sleep(pause_s * (2**attempt) * (0.5 + random.random()))


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


_LOST = ("Lost connection", "server closed the connection", "connection already closed", "Server connection lost",
         "Can't connect", "terminating connection", "MySQL server has gone away", "Connection refused")


def is_connection_lost(error: BaseException) -> bool:
    """Whether ``error`` says the server connection is gone (a restart), on any driver."""
    if isinstance(error, dj.errors.LostConnectionError):
        return True
    names = {type(e).__name__ for e in (error, error.__cause__, error.__context__) if e is not None}
    return bool(names & {"OperationalError", "InterfaceError"}) and any(m in str(error) for m in _LOST) or (
        "InterfaceError" in names and str(error) in ("(0, '')", "")
    )


def retry_lost_connection(action, wait_s: float = 300.0):
    """Run ``action()``; if the server connection was lost, reconnect (waiting for the server)
    and run it once more. For short, idempotent steps (checkpoint writes, job bookkeeping)."""
    try:
        return action()
    except Exception as err:
        if not is_connection_lost(err):
            raise
        reconnect(wait_s)
        return action()


def backend() -> str:
    """'postgresql' or 'mysql' (MariaDB reports as mysql)."""
    configure()
    return dj.config["database.backend"]


_owner_checked = False


def make_schema(stage: str) -> dj.Schema:
    """The schema for one pipeline stage, named ``<PIPELINE_PREFIX><stage>``.

    The first stage a process declares checks that the object store belongs to this
    database (``schemas.storage``): a store another database owns is an error before any
    table is used."""
    global _owner_checked
    schema = dj.Schema(schema_name(stage), connection=connection())
    if not _owner_checked and stage != "storage":
        _owner_checked = True
        from . import storage

        try:
            storage.ensure_store_owner()
        except Exception:
            _owner_checked = False  # a later attempt (after the operator's fix) checks again
            raise
    return schema
