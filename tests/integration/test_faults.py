"""Faults with real processes against the real server: workers killed at random points of a
long populate, and the database server restarted under a running make."""

import os
import signal
import subprocess
import time

import numpy as np
import pytest
import torch

from pipeline.data.synthetic import gaussian_clusters
from pipeline.models.mlp import build_mlp
from pipeline.training import train_classifier

from .conftest import BACKEND
from .helpers import MEDIUM_DATA, finish, register, start_worker, wait_for

pytestmark = pytest.mark.backend_specific

EPOCHS, HIDDEN = 6, (64,)


def _reference(seed):
    data = gaussian_clusters(seed=seed, **MEDIUM_DATA)
    model = build_mlp(data, seed=seed, hidden=list(HIDDEN))
    return train_classifier(model, data, seed=seed, max_epochs=EPOCHS, lr=0.05, momentum=0.9, batch_size=64).state_dict


def test_random_sigkills_and_restarts_end_where_an_undisturbed_run_ends(clean, python, worker_env):
    from schemas.storage import collect_garbage, pipeline_schemas
    from schemas.training import TrainedModel, TrainingCheckpoint

    seeds = [1, 2, 3, 4, 5, 6]
    key = register(seeds=seeds, data=MEDIUM_DATA, epochs=EPOCHS, hidden=HIDDEN)
    rng = np.random.default_rng(2026)  # the kill schedule is fixed; the result must not depend on it
    # nothing here reconnects, so a short grace before a killed worker's job is re-queued
    worker_env = {**worker_env, "PIPELINE_DEAD_GRACE_SECONDS": "2"}
    workers = [start_worker(python, worker_env, "--orphan-timeout", "5") for _ in range(2)]
    kills = 0
    for pause in rng.uniform(0.5, 3.0, 5):
        time.sleep(pause)
        victim = int(rng.integers(0, 2))
        if workers[victim].poll() is None:
            os.kill(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait(timeout=30)
            kills += 1
        workers[victim] = start_worker(python, worker_env, "--orphan-timeout", "5")
    summaries = [finish(w, timeout=900) for w in workers]
    # a worker that found nothing left may finish early; one more pass picks up anything a kill left behind
    summaries.append(finish(start_worker(python, worker_env, "--orphan-timeout", "5"), timeout=900))
    assert kills >= 1
    assert sorted(TrainedModel().to_arrays("seed").tolist()) == seeds  # each job once: no duplicates, none lost
    assert len(TrainingCheckpoint()) == 0 and TrainedModel.jobs.progress()["total"] == 0
    for seed in seeds:
        stored = TrainedModel().load_state_dict({**key, "seed": seed})
        for name, tensor in _reference(seed).items():
            torch.testing.assert_close(stored[name], tensor, rtol=1e-5, atol=1e-5)
    collect_garbage(pipeline_schemas(clean), min_age_s=0)
    assert collect_garbage(pipeline_schemas(clean), min_age_s=0, dry_run=True)["orphaned"] == 0


@pytest.mark.skipif(BACKEND.name not in ("postgresql", "mariadb"),
                    reason="its private server is a PostgreSQL or a MariaDB, restarted once each, on their own legs")
def test_a_worker_completes_when_the_database_server_restarts_under_its_make(pipeline_modules, backend, python, worker_env,
                                                                          tmp_path):
    """Against a server of the test's own (never the machine's service), restarted while a
    worker is inside a make: the worker reconnects and finishes the job once."""
    import json

    from schemas.training import TrainedModel, TrainingCheckpoint

    from .helpers import REPO, SLOW_DATA
    from .servers import private_server

    server = private_server(backend.name)
    try:
        env = {**worker_env, "DJ_HOST": "127.0.0.1", "DJ_PORT": str(server.port), "DJ_USER": server.user, "DJ_PASS": "",
               "DJ_BACKEND": server.backend, "PIPELINE_HOME": str(tmp_path / "home")}
        env.pop("DJ_STORES", None)
        setup = ("from tests.integration.helpers import SLOW_DATA, register\n"
                 "register(seeds=[7], data=SLOW_DATA, epochs=12, hidden=(128,))\n")
        out = subprocess.run([python, "-c", setup], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        quote = '"' if server.backend == "postgresql" else "`"
        schema = f"{backend.env['PIPELINE_PREFIX']}training"

        def count(table) -> int:
            conn = server.connect()
            try:
                cursor = conn.cursor()
                cursor.execute(f"SELECT COUNT(*) FROM {quote}{schema}{quote}.{quote}{table.table_name}{quote}")
                return int(cursor.fetchone()[0])
            except Exception:  # not declared yet: the worker declares the tables when it starts
                return 0
            finally:
                conn.close()

        worker = start_worker(python, env)
        wait_for(lambda: count(TrainingCheckpoint) >= 1, timeout=240, interval=0.5, what="a first checkpoint")
        server.restart()
        summary = finish(worker, timeout=900)
        assert summary["done"].get("TrainedModel") == 1, summary
        assert count(TrainedModel) == 1 and count(TrainingCheckpoint) == 0
        conn = server.connect()
        cursor = conn.cursor()
        cursor.execute(f"SELECT {quote}output{quote} FROM {quote}{schema}{quote}.{quote}{TrainedModel.table_name}{quote}")
        output = cursor.fetchone()[0]
        conn.close()
        output = json.loads(output) if isinstance(output, str) else output
        assert len(output["history"]) == 12
    finally:
        server.stop()
