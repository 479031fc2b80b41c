"""The embedded PostgreSQL (PyPI ``pgserver``): the default database when none is configured.

One server per ``$PIPELINE_HOME/postgres``, shared by every process of this user that asks
for it and stopped by the last one to leave; its data directory and socket are the
user's alone, and a data directory another host or user runs is refused.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from pathlib import Path

from .settings import ConfigurationError, pipeline_home

log = logging.getLogger(__name__)

_embedded_server = None  # keeps the pgserver handle (and its atexit cleanup) alive


def server():
    """This process's pgserver handle, or None before the embedded server was started."""
    return _embedded_server


def start() -> dict:
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


def stop() -> None:
    """Leave the embedded server (stopping it if this process is the last to use it)."""
    global _embedded_server
    if _embedded_server is None:
        return
    _forget_dead_users(_embedded_server.pgdata)
    _embedded_server.cleanup()
    _embedded_server = None
