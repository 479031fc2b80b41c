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


def _restart_server():
    if BACKEND.name == "postgresql":
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True, timeout=120)
    else:
        subprocess.run(["mariadb-admin", "-h", "127.0.0.1", "-uroot", "shutdown"], check=True, timeout=120)
        time.sleep(1)
        subprocess.run(["start-stop-daemon", "--start", "--oknodo", "--background", "--chuid", "mysql", "--exec", "/usr/sbin/mariadbd"], check=True)
        wait_for(lambda: subprocess.run(["mariadb-admin", "-h", "127.0.0.1", "-uroot", "ping"], capture_output=True).returncode == 0,
                 timeout=60, what="MariaDB to come back")


@pytest.mark.skipif(BACKEND.name not in ("postgresql", "mariadb"), reason="restarts the machine's own server")
def test_a_worker_completes_when_the_database_server_restarts_under_its_make(clean, python, worker_env):
    from schemas.training import TrainedModel, TrainingCheckpoint

    from .helpers import SLOW_DATA

    register(seeds=[7], data=SLOW_DATA, epochs=12, hidden=(128,))
    worker = start_worker(python, worker_env)
    wait_for(lambda: bool(TrainingCheckpoint()), timeout=240, what="a first checkpoint")
    _restart_server()
    summary = finish(worker, timeout=900)
    from schemas import connection

    connection.connection().connect()  # this test process lost its connection too
    assert summary["done"].get("TrainedModel") == 1, summary
    row = TrainedModel().to_dicts()[0]
    assert len(row["output"]["history"]) == 12 and len(TrainingCheckpoint()) == 0
