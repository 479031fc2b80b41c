"""Private database server instances for tests that restart a server or change its accounts.

Such a test never touches the machine's own PostgreSQL or MariaDB service: it starts a
cluster of its own in a temporary directory (``initdb`` + ``pg_ctl``, or
``mariadb-install-db`` + ``mariadbd --datadir``) on a free loopback port, and removes it
afterwards.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as(user: str, *command, **kwargs) -> subprocess.CompletedProcess:
    prefix = ["runuser", "-u", user, "--"] if os.geteuid() == 0 else []
    return subprocess.run([*prefix, *command], check=True, capture_output=True, text=True, **kwargs)


def _wait_listening(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the private server did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (trust authentication, loopback only)."""

    backend = "postgresql"
    user = "postgres"

    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
        self.bin = Path(bins[-1])
        self.root = Path(tempfile.mkdtemp(prefix="private-pg-"))
        self.data, self.port = self.root / "data", _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        _as("postgres", str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        self.start()

    def _ctl(self, *args):
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1"
        _as("postgres", str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "-t", "60", *args)

    def start(self):
        self._ctl("-l", str(self.root / "log"), "start")
        _wait_listening(self.port)

    def restart(self):
        self._ctl("-m", "fast", "-l", str(self.root / "log"), "restart")
        _wait_listening(self.port)

    def stop(self):
        try:
            self._ctl("-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def connect(self):
        import psycopg2

        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        return conn


class PrivateMariaDB:
    """A MariaDB server of this test's own (root without a password, loopback only)."""

    backend = "mysql"
    user = "root"

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="private-mariadb-"))
        self.data, self.port = self.root / "data", _free_port()
        if os.geteuid() == 0:
            shutil.chown(self.root, "mysql", "mysql")
        _as("mysql", "mariadb-install-db", "--no-defaults", f"--datadir={self.data}", "--auth-root-authentication-method=normal",
            "--skip-test-db")
        self.process = None
        self.start()

    def start(self):
        prefix = ["runuser", "-u", "mysql", "--"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [*prefix, "mariadbd", "--no-defaults", f"--datadir={self.data}", f"--port={self.port}", "--bind-address=127.0.0.1",
             f"--socket={self.root / 'sock'}", f"--pid-file={self.root / 'pid'}", "--skip-log-bin",
             "--max-allowed-packet=1G", "--transaction-isolation=READ-COMMITTED"],
            stdout=subprocess.DEVNULL, stderr=open(self.root / "log", "ab"),
        )
        _wait_listening(self.port)

    def restart(self):
        self._shutdown()
        self.start()

    def _shutdown(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=120)

    def stop(self):
        try:
            self._shutdown()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def connect(self):
        import pymysql

        return pymysql.connect(host="127.0.0.1", port=self.port, user="root", password="", autocommit=True)


def private_server(backend_name: str):
    """A private instance of the kind of server ``backend_name`` tests run against."""
    if backend_name in ("postgresql", "embedded"):
        return PrivatePostgres()
    return PrivateMariaDB()
