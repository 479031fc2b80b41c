"""The embedded default: one PostgreSQL server, shared by every process that asks."""

import subprocess

import pytest

from .helpers import REPO
from .conftest import BACKEND

pytestmark = [pytest.mark.backend_specific,
              pytest.mark.skipif(BACKEND.name != "embedded", reason="only for the embedded default")]

PROBE = (
    "from schemas import connection, embedded; c = connection.connection(); "
    "print(embedded.server().get_pid(), connection.dj.config['database.host'])"
)


def test_a_second_process_reuses_the_running_server(pipeline_modules, python, worker_env):
    from schemas import connection, embedded

    mine = embedded.server().get_pid()
    out = subprocess.run([python, "-c", PROBE], cwd=REPO, env=worker_env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pid, host = out.stdout.split()
    assert int(pid) == mine
    assert host == connection.dj.config["database.host"]
    # and the server outlives that process, because this one still uses it
    assert connection.connection().query("SELECT 1").fetchone()[0] == 1


def _status(python, env):
    return subprocess.run([python, "-m", "populate", "status", "--json"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def own_home(tmp_path, worker_env, python):
    """A PIPELINE_HOME of its own with the embedded server started once and stopped again."""
    env = {**worker_env, "PIPELINE_HOME": str(tmp_path / "home")}
    out = _status(python, env)
    assert out.returncode == 0, out.stderr
    return env, tmp_path / "home"


def test_a_stale_postmaster_pid_whose_pid_was_reused_does_not_block_the_start(own_home, python):
    import os

    env, home = own_home
    pid_file = home / "postgres" / "postmaster.pid"
    assert not pid_file.exists()  # the last user stopped the server
    pid_file.write_text(f"{os.getpid()}\n{home / 'postgres'}\n0\n5432\n\n\n\n")  # a live pid that is not a postmaster
    out = _status(python, env)
    assert out.returncode == 0, out.stderr


def test_a_truncated_user_list_is_recovered_and_dirs_are_private(own_home, python):
    import stat

    env, home = own_home
    (home / "postgres" / ".handle_pids.json").write_text("[12, 3")  # a writer killed mid-write
    out = _status(python, env)
    assert out.returncode == 0, out.stderr
    for folder in (home / "store",):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_the_server_creates_its_socket_owner_only(tmp_path, worker_env, python):
    """With a data directory too deep for a socket path, pgserver puts the socket in a runtime
    directory it opens to everyone; the socket itself must still be the owner's alone, from the
    moment the server creates it (the server is asked to, not chmod-ed afterwards)."""
    import stat

    home = tmp_path / ("d" * 60) / ("e" * 60)  # over the 107-byte limit of a socket path
    env = {**worker_env, "PIPELINE_HOME": str(home)}
    probe = ("import os, stat; from schemas import connection; c = connection.connection(); "
             "d = connection.dj.config['database.host']; "
             "print(d, oct(stat.S_IMODE(os.stat(os.path.join(d, '.s.PGSQL.5432')).st_mode)))")
    out = subprocess.run([python, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    socket_dir, mode = out.stdout.split()
    assert socket_dir != str(home / "postgres")  # the long-path case: a runtime directory
    assert mode == "0o700"
    assert "unix_socket_permissions = 0700" in (home / "postgres" / "postgresql.auto.conf").read_text()


def test_a_data_directory_running_on_another_host_is_refused(own_home, python):
    env, home = own_home
    (home / "postgres" / ".pipeline-host").write_text("another-host")
    (home / "postgres" / "postmaster.pid").write_text("4242\n")
    out = _status(python, env)
    assert out.returncode == 2 and "running on host 'another-host'" in out.stderr and "Traceback" not in out.stderr
