"""The embedded default: one PostgreSQL server, shared by every process that asks."""

import subprocess

import pytest

from .helpers import REPO
from .conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND.name != "embedded", reason="only for the embedded default")

PROBE = (
    "from schemas import connection; c = connection.connection(); "
    "print(connection._embedded_server.get_pid(), connection.dj.config['database.host'])"
)


def test_a_second_process_reuses_the_running_server(pipeline_modules, python, worker_env):
    from schemas import connection

    mine = connection._embedded_server.get_pid()
    out = subprocess.run([python, "-c", PROBE], cwd=REPO, env=worker_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pid, host = out.stdout.split()
    assert int(pid) == mine
    assert host == connection.dj.config["database.host"]
    # and the server outlives that process, because this one still uses it
    assert connection.connection().query("SELECT 1").fetchone()[0] == 1
