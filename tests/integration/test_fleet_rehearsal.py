"""What ``docker compose up`` does, rehearsed without containers, with compose's own files.

* compose's database init script (``docker/mysql-init/01-worker-user.sh``) runs against a
  private MariaDB instance (its own datadir and port), as the entrypoint would run it;
* compose's SeaweedFS scripts start the store and create the bucket;
* two ``populate worker`` processes run with compose's worker environment
  (``x-pipeline-env``, its ``${VAR}`` filled from a test ``.env``; only the service names
  ``db`` and ``seaweedfs`` become loopback ports) as the least-privileged account, the
  workers' own, and populate the ``tiny`` profile to completion: every job done once, by
  one of them, nothing left reserved or in error.

Rehearsed once, on the mariadb leg of ``make test`` (compose's database speaks MySQL).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .helpers import REPO, finish, start_worker
from .seaweedfs import SeaweedFS
from .servers import PrivateMariaDB

pytestmark = pytest.mark.backend_specific

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _substitute(value: str, env: dict) -> str:
    return re.sub(r"\$\{(\w+)(?::[-?]([^}]*))?\}", lambda m: env.get(m.group(1), m.group(2) or ""), value)


@pytest.fixture
def fleet(backend, tmp_path):
    if backend.name != "mariadb":
        pytest.skip("the fleet is rehearsed once, on the mariadb leg (compose's database speaks MySQL)")
    dotenv = {"MYSQL_ROOT_PASSWORD": "", "WORKER_USER": "pipeline", "WORKER_PASSWORD": "worker-secret-1",
              "NOTEBOOK_USER": "notebook", "NOTEBOOK_PASSWORD": "notebook-secret-1", "STORE_BUCKET": "cotrain-artifacts",
              "STORE_USER": "pipeline-store", "STORE_PASSWORD": "store-secret-1",
              "PIPELINE_PREFIX": f"{backend.env['PIPELINE_PREFIX']}fleet_", "DJ_USE_TLS": "false"}
    server = PrivateMariaDB()
    store = None
    try:
        # the entrypoint runs init scripts with the root password in MYSQL_PWD; `mysql` here
        # reaches the private server over TCP, as the container's reaches its socket
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        wrapper = bin_dir / "mysql"
        wrapper.write_text(f"#!/bin/sh\nexec {shutil.which('mysql')} --protocol=tcp -h127.0.0.1 -P{server.port} \"$@\"\n")
        wrapper.chmod(0o755)
        init = subprocess.run(["bash", str(REPO / "docker" / "mysql-init" / "01-worker-user.sh")], capture_output=True,
                              text=True, timeout=120,
                              env={"PATH": f"{bin_dir}:{os.environ['PATH']}", **{k: dotenv[k] for k in (
                                  "MYSQL_ROOT_PASSWORD", "WORKER_USER", "WORKER_PASSWORD", "NOTEBOOK_USER",
                                  "NOTEBOOK_PASSWORD", "PIPELINE_PREFIX")}})
        assert init.returncode == 0, init.stderr
        store = SeaweedFS(bucket=dotenv["STORE_BUCKET"], access_key=dotenv["STORE_USER"],
                          secret_key=dotenv["STORE_PASSWORD"])
        env = {k: _substitute(str(v), dotenv) for k, v in COMPOSE["x-pipeline-env"].items()}
        env["DJ_HOST"], env["DJ_PORT"] = "127.0.0.1", str(server.port)
        env["DJ_STORES"] = env["DJ_STORES"].replace("seaweedfs:8333", store.endpoint)
        env["PIPELINE_HOME"] = str(tmp_path / "worker-home")
        yield {"env": {**{k: v for k, v in os.environ.items() if not k.startswith(("DJ_", "PIPELINE_"))}, **env,
                       "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"},
               "dotenv": dotenv, "server": server}
    finally:
        if store is not None:
            store.stop()
        server.stop()


def _status(env) -> dict:
    out = subprocess.run([sys.executable, "-m", "populate", "status", "--json"], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout)


def test_compose_fleet_rehearsed_two_workers_as_the_worker_account_finish_the_tiny_profile(fleet):
    env = fleet["env"]
    assert env["DJ_USER"] == "pipeline" and env["DJ_PASS"] == "worker-secret-1"  # the least-privileged account
    setup = ("import schemas\nschemas.activate()\nfrom populate import demo, profiles\n"
             "spec = profiles.profile('tiny')\n"
             "demo.ensure_virtual_monkey(spec['virtual_monkey'])\n"
             "demo.ensure_image_set(spec['image_set'])\n"
             "profiles.register('tiny')\n")
    out = subprocess.run([sys.executable, "-c", setup], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-4000:]
    before = {row["table"]: row["done"] for row in _status(env)["tables"]}  # the imports make some rows themselves

    workers = [start_worker(sys.executable, env, "--single", "--gc-min-age", "0") for _ in range(2)]
    summaries = [finish(worker, timeout=1800) for worker in workers]
    assert all(not s["errors"] or not any(s["errors"].values()) for s in summaries), summaries

    report = _status(env)
    assert "cotrain-artifacts" in report["store"]
    for row in report["tables"]:
        name = row["table"].split(".")[-1]
        made = sum(s["done"].get(name, 0) for s in summaries)
        assert row["pending"] == 0 and row["reserved"] == 0 and row["errors"] == 0, row
        assert made == row["done"] - before[row["table"]], (row["table"], made, row["done"], before[row["table"]])
    assert sum(report_row["done"] for report_row in report["tables"]) > 50

    # the account the workers used cannot reach beyond the pipeline's schemas
    root = fleet["server"].connect()
    cursor = root.cursor()
    cursor.execute("SHOW GRANTS FOR 'pipeline'@'%'")
    grants = " ".join(row[0] for row in cursor.fetchall())
    assert "ON *.* TO" in grants and "ALL PRIVILEGES ON *.*" not in grants
