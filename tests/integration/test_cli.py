"""The command line against the configured backend, as separate processes."""

import json
import subprocess

from .helpers import REPO, register


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


def test_schema_names_carry_the_prefix(pipeline_modules, backend):
    prefix = backend.env["PIPELINE_PREFIX"]
    assert all(module.schema.database.startswith(prefix) for module in pipeline_modules)


def test_interactive_deletes_ask_first_as_datajoint_users_expect(clean, python, worker_env):
    import subprocess

    from schemas.registry import Seed

    Seed.insert1((41,), skip_duplicates=True)
    script = ("import datajoint as dj\nfrom schemas.registry import Seed\nprint('safemode', dj.config['safemode'])\n"
              "(Seed & {'seed': 41}).delete()\n")
    out = subprocess.run([python, "-c", script], cwd=REPO, env=worker_env, input="no\n", capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert "safemode True" in out.stdout
    assert Seed & {"seed": 41}  # the prompt was answered no: nothing deleted


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
