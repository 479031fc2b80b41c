"""The command line against the configured backend, as separate processes."""

import json
import subprocess

import pytest

from .helpers import REPO, one_error_line, register


@pytest.mark.backend_specific
def test_status_json_reports_every_table(clean, python, worker_env):
    register(seeds=[1, 2])
    out = subprocess.run(
        [python, "-m", "populate", "status", "--json"], cwd=REPO, env=worker_env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    rows = {row["table"]: row for row in report["tables"]}
    assert rows["training.TrainedModel"]["pending"] == 2
    assert rows["training.TrainedModel"]["done"] == 0


@pytest.mark.portable
def test_status_runs_without_importing_matplotlib_or_torch(clean, python, worker_env):
    """status is what an operator runs on a worker host: it needs no plotting stack, and a
    command that never trains starts without torch (1.6 s of imports per process)."""
    script = ("import sys\nfrom populate.cli import main\nrc = main(['status'])\n"
              "print('matplotlib imported:', 'matplotlib' in sys.modules)\n"
              "print('torch imported:', 'torch' in sys.modules)\nsys.exit(rc)\n")
    out = subprocess.run([python, "-c", script], cwd=REPO, env=worker_env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "training.TrainedModel" in out.stdout
    assert "matplotlib imported: False" in out.stdout and "torch imported: False" in out.stdout


@pytest.mark.backend_specific
def test_schema_names_carry_the_prefix(pipeline_modules, backend):
    prefix = backend.env["PIPELINE_PREFIX"]
    assert all(module.schema.database.startswith(prefix) for module in pipeline_modules)


@pytest.mark.portable
def test_interactive_deletes_ask_first_as_datajoint_users_expect(clean, python, worker_env):
    import subprocess

    from schemas.registry import Seed

    Seed.insert1((41,), skip_duplicates=True)
    script = ("import datajoint as dj\nimport schemas\nschemas.activate()\nfrom schemas.registry import Seed\n"
              "print('safemode', dj.config['safemode'])\n"
              "(Seed & {'seed': 41}).delete()\n")
    out = subprocess.run([python, "-c", script], cwd=REPO, env=worker_env, input="no\n", capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "safemode True" in out.stdout
    assert Seed & {"seed": 41}  # the prompt was answered no: nothing deleted


@pytest.mark.backend_specific
def test_the_fleets_notebook_account_reads_but_cannot_delete_or_drop_pipeline_rows(clean, backend):
    """docker/mysql-init/01-worker-user.sh run against the real server, then used as the notebook."""
    import os

    import pymysql
    import pytest

    if backend.name not in ("mariadb", "mysql8"):
        pytest.skip("the fleet's database is MySQL")
    from schemas.registry import Seed

    Seed.insert1((43,), skip_duplicates=True)
    tag = f"t{os.getpid()}"
    env = {**os.environ, "MYSQL_ROOT_PASSWORD": backend.env.get("DJ_PASS", ""), "WORKER_USER": f"{tag}_worker",
           "WORKER_PASSWORD": "w-secret", "NOTEBOOK_USER": f"{tag}_nb", "NOTEBOOK_PASSWORD": "nb-secret",
           "PIPELINE_PREFIX": backend.env["PIPELINE_PREFIX"], "MYSQL_HOST": "127.0.0.1",
           "MYSQL_TCP_PORT": backend.env["DJ_PORT"]}
    out = subprocess.run(["bash", str(REPO / "docker" / "mysql-init" / "01-worker-user.sh")], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    table = f"`{Seed.database}`.`{Seed.table_name}`"
    conn = pymysql.connect(host="127.0.0.1", port=int(backend.env["DJ_PORT"]), user=f"{tag}_nb", password="nb-secret",
                           autocommit=True)
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        assert cursor.fetchone()[0] >= 1
        for statement in (f"DELETE FROM {table}", f"DROP TABLE {table}"):
            with pytest.raises(pymysql.err.OperationalError, match="denied"):
                cursor.execute(statement)
        cursor.execute(f"CREATE DATABASE `{tag}_nb_scratch`")  # its own schemas are its own
        cursor.execute(f"DROP DATABASE `{tag}_nb_scratch`")
    finally:
        conn.close()
        for user in (f"{tag}_worker", f"{tag}_nb"):
            Seed.connection.query(f"DROP USER IF EXISTS '{user}'@'%%'")  # %% : the driver formats
    assert Seed & {"seed": 43}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# (environment, what the one line must say); the credential cases use the machine's own
# PostgreSQL and MariaDB services, which every leg of `make test` requires
_BAD_SETTINGS = {
    "refused postgresql": ({"DJ_HOST": "127.0.0.1", "DJ_PORT": "<free>", "DJ_BACKEND": "postgresql"},
                           ["nothing accepts connections at the postgresql database at 127.0.0.1:", "DJ_PORT"]),
    "refused mysql": ({"DJ_HOST": "127.0.0.1", "DJ_PORT": "<free>", "DJ_BACKEND": "mysql"},
                      ["nothing accepts connections at the mysql database", "unset DJ_HOST"]),
    "unknown host": ({"DJ_HOST": "no-such-host.invalid", "DJ_BACKEND": "postgresql"},
                     ["cannot be reached", "no-such-host.invalid", "check DJ_HOST"]),
    "wrong mysql credentials": ({"DJ_HOST": "127.0.0.1", "DJ_PORT": "3306", "DJ_BACKEND": "mysql", "DJ_USER": "nobody",
                                 "DJ_PASS": "wrong"}, ["refused user 'nobody'", "check DJ_USER and DJ_PASS"]),
    "wrong postgresql credentials": ({"DJ_HOST": "127.0.0.1", "DJ_PORT": "5432", "DJ_BACKEND": "postgresql",
                                      "DJ_USER": "nobody"}, ["refused user 'nobody'", "check DJ_USER and DJ_PASS"]),
    "unknown backend": ({"DJ_HOST": "127.0.0.1", "DJ_BACKEND": "mysqll"},
                        ["DJ_BACKEND='mysqll'", "mysql or postgresql"]),
    "bad DJ_STORES": ({"DJ_HOST": "127.0.0.1", "DJ_PORT": "5432", "DJ_BACKEND": "postgresql", "DJ_USER": "postgres",
                       "DJ_STORES": "{bad"}, ["DJ_STORES contains invalid JSON", "defines the store 'artifacts'"]),
}


@pytest.mark.parametrize("case", sorted(_BAD_SETTINGS))
@pytest.mark.portable
def test_a_setting_the_user_can_fix_is_one_line_with_a_hint_and_v_shows_the_traceback(case, python, worker_env, tmp_path,
                                                                                   backend):
    settings, expected = _BAD_SETTINGS[case]
    env = {k: v for k, v in worker_env.items() if not k.startswith("DJ_")}
    env.update({k: (str(_free_port()) if v == "<free>" else v) for k, v in settings.items()})
    env["PIPELINE_HOME"] = str(tmp_path / "home")
    out = subprocess.run([python, "-m", "populate", "status"], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    line = one_error_line(out)
    for words in expected:
        assert words in line, (words, line)
    verbose = subprocess.run([python, "-m", "populate", "-v", "status"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=300)
    assert verbose.returncode == 2 and "Traceback" in verbose.stderr and line in verbose.stderr


@pytest.mark.portable
def test_a_malformed_checkpoint_interval_stops_the_worker_before_any_job(clean, python, worker_env):
    from schemas.training import TrainedModel

    register(seeds=[1], epochs=1)
    env = {**worker_env, "PIPELINE_CHECKPOINT_SECONDS": "-5"}
    out = subprocess.run([python, "-m", "populate", "worker", "--single"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    line = one_error_line(out)
    assert "PIPELINE_CHECKPOINT_SECONDS='-5'" in line and "seconds >= 0" in line, line
    assert len(TrainedModel()) == 0 and TrainedModel.jobs.progress()["total"] == 0
