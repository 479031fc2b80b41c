"""Workers as real processes against the real server: concurrency, SIGKILL, SIGTERM, gc."""

import os
import signal

import pytest
import torch

from pipeline.data.synthetic import gaussian_clusters
from pipeline.models.mlp import build_mlp
from pipeline.training import train_classifier

from .helpers import SLOW_DATA, finish, register, start_worker, wait_for


def _store_orphans(modules):
    from schemas.storage import collect_garbage, pipeline_schemas

    return collect_garbage(pipeline_schemas(modules), min_age_s=0, dry_run=True)["orphaned"]


@pytest.mark.backend_specific
def test_two_workers_do_every_job_exactly_once(clean, python, worker_env):
    from schemas.training import TrainedModel

    seeds = list(range(1, 11))
    register(seeds=seeds, epochs=2)
    workers = [start_worker(python, worker_env, "--gc-min-age", "0") for _ in range(2)]
    summaries = [finish(w) for w in workers]
    done = [s["done"].get("TrainedModel", 0) for s in summaries]
    errors = (TrainedModel.jobs & "status='error'").to_dicts()
    assert sum(done) == len(seeds), f"jobs done per worker: {done}; {summaries}; errors: {[e['error_message'] for e in errors]}"
    assert all(s["errors"].get("TrainedModel", 0) == 0 for s in summaries)
    assert sorted(TrainedModel().to_arrays("seed").tolist()) == seeds
    assert TrainedModel.jobs.progress()["total"] == 0
    assert _store_orphans(clean) == 0


@pytest.mark.backend_specific
def test_a_pool_of_cpu_workers_does_every_job_once_and_collects_garbage_after_all_end(clean, python, worker_env):
    from schemas.training import TrainedModel

    seeds = list(range(1, 9))
    register(seeds=seeds, epochs=2)
    summary = finish(start_worker(python, worker_env, "--processes", "2", "--gc-min-age", "0", "--measure-arithmetic"))
    assert summary["processes"] == 2 and len(set(summary["pids"])) == 2
    assert summary["done"]["TrainedModel"] == len(seeds) and not summary["errors"].get("TrainedModel"), summary
    # --measure-arithmetic reached the children (the seconds themselves are a timing, not asserted:
    # 2-epoch MLP jobs round to 0.0)
    assert all("TrainedModel" in child["arithmetic_s"] for child in summary["children"] if child["done"].get("TrainedModel"))
    assert "TrainedModel" in summary["arithmetic_s"]
    assert sorted(TrainedModel().to_arrays("seed").tolist()) == seeds
    # no child collected garbage (one that ended first could delete the other's uploads in
    # flight); the parent collected once both had ended
    assert len(summary["children"]) == 2 and all("gc" not in child for child in summary["children"])
    assert sum(child["done"].get("TrainedModel", 0) for child in summary["children"]) == len(seeds)
    assert "refused" not in summary["gc"]
    assert _store_orphans(clean) == 0


@pytest.mark.portable
def test_a_pool_size_below_one_is_refused_in_one_line(python, worker_env):
    import subprocess

    from .helpers import REPO

    out = subprocess.run([python, "-m", "populate", "worker", "--processes", "0"], cwd=REPO, env=worker_env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    errors = [line for line in out.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "--processes" in errors[0] and "at least 1" in errors[0], out.stderr


def _checkpoint_epoch():
    from schemas.training import TrainingCheckpoint

    epochs = TrainingCheckpoint().to_arrays("epoch")  # not the state: a poll reads no checkpoint file
    return int(epochs[0]) if len(epochs) else 0


@pytest.mark.backend_specific
def test_sigkilled_worker_is_resumed_from_its_checkpoint(clean, python, worker_env):
    from schemas.training import TrainedModel, TrainingCheckpoint

    epochs = 8  # killed after epoch 2 of about 1 s each, so the kill lands inside the job
    key = register(seeds=[5], data=SLOW_DATA, epochs=epochs, hidden=(128,))
    # nothing here reconnects, so a short grace before the killed worker's job is re-queued
    worker_env = {**worker_env, "PIPELINE_DEAD_GRACE_SECONDS": "2"}
    victim = start_worker(python, worker_env)
    killed_after = wait_for(lambda: _checkpoint_epoch() >= 2, timeout=240, what="a checkpoint of epoch 2")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=30)

    assert len(TrainedModel()) == 0
    assert TrainedModel.jobs.progress()["reserved"] == 1  # the dead worker's reservation
    saved = _checkpoint_epoch()
    assert saved >= killed_after

    summary = finish(start_worker(python, worker_env, "--gc-min-age", "0"), timeout=600)
    assert summary["done"]["TrainedModel"] == 1 and sum(summary["done"].values()) == 1
    row = TrainedModel().to_dicts()[0]
    assert row["output"]["resumed_from_epoch"] >= saved
    assert len(row["output"]["history"]) == epochs
    assert len(TrainedModel()) == 1 and len(TrainingCheckpoint()) == 0
    assert TrainedModel.jobs.progress()["total"] == 0
    assert _store_orphans(clean) == 0

    # the resumed run ends where an uninterrupted run of the same job ends
    data = gaussian_clusters(seed=5, **SLOW_DATA)
    reference = train_classifier(
        build_mlp(data, seed=5, hidden=[128]), data, seed=5, max_epochs=epochs, lr=0.05, momentum=0.9, batch_size=64
    )
    stored = TrainedModel().load_state_dict({**key, "seed": 5})
    for name, tensor in reference.state_dict.items():
        torch.testing.assert_close(stored[name], tensor, rtol=1e-5, atol=1e-5)


@pytest.mark.backend_specific
def test_sigterm_stops_at_the_next_checkpoint_and_gives_the_job_back(clean, python, worker_env):
    from schemas.training import TrainedModel

    register(seeds=[6], data=SLOW_DATA, epochs=8, hidden=(128,))
    worker = start_worker(python, worker_env)
    wait_for(lambda: _checkpoint_epoch() >= 1, timeout=240, what="a first checkpoint")
    worker.send_signal(signal.SIGTERM)
    summary = finish(worker, timeout=120)
    assert summary["stopped"] is True and summary["released"] == 1
    progress = TrainedModel.jobs.progress()
    assert progress["reserved"] == 0 and progress["error"] == 0
    stopped_at = _checkpoint_epoch()
    assert 1 <= stopped_at < 8

    summary = finish(start_worker(python, worker_env, "--gc-min-age", "0"), timeout=600)
    assert summary["done"]["TrainedModel"] == 1 and sum(summary["done"].values()) == 1
    assert TrainedModel().to_dicts()[0]["output"]["resumed_from_epoch"] == stopped_at


@pytest.mark.backend_specific
def test_gc_removes_files_left_by_a_failed_job(clean):
    """An upload whose row never committed leaves a file that only gc can find."""
    from schemas.registry import Seed
    from schemas.storage import collect_garbage, pipeline_schemas
    from schemas.training import TrainingCheckpoint

    key = register(seeds=[1])
    job = {**key, "seed": 1}
    conn = TrainingCheckpoint.connection
    from pathlib import Path
    import tempfile

    path = Path(tempfile.mkdtemp()) / "checkpoint.pt"
    path.write_bytes(b"partial")
    conn.start_transaction()
    TrainingCheckpoint.insert1({**job, "epoch": 1, "state": str(path)})
    conn.cancel_transaction()
    assert len(TrainingCheckpoint()) == 0 and len(Seed()) == 1
    schemas_ = pipeline_schemas(clean)
    assert collect_garbage(schemas_, min_age_s=3600)["deleted"] == 0  # too fresh: might be in flight
    report = collect_garbage(schemas_, min_age_s=0)
    assert report["orphaned"] == 1 and report["deleted"] == 1
    assert _store_orphans(clean) == 0


@pytest.mark.portable
def test_gc_passes_over_a_file_a_live_worker_deletes_while_it_looks(clean, monkeypatch):
    """A worker at exit collected garbage while another replaced a checkpoint: the previous
    checkpoint file was listed as unreferenced, then deleted by its writer before gc read its
    age, and the exiting worker died of FileNotFoundError (seen in `make test`)."""
    from pathlib import Path
    import tempfile

    from schemas import storage
    from schemas.storage import collect_garbage, pipeline_schemas
    from schemas.training import TrainingCheckpoint

    job = {**register(seeds=[1]), "seed": 1}
    path = Path(tempfile.mkdtemp()) / "checkpoint.pt"
    path.write_bytes(b"replaced")
    conn = TrainingCheckpoint.connection
    conn.start_transaction()
    TrainingCheckpoint.insert1({**job, "epoch": 1, "state": str(path)})
    conn.cancel_transaction()  # its file is in the store, unreferenced
    is_empty_folder = storage._is_empty_folder

    def deleted_by_its_writer_meanwhile(fs, full_path):
        if fs.isfile(full_path):
            fs.rm(full_path)
        return is_empty_folder(fs, full_path)

    monkeypatch.setattr(storage, "_is_empty_folder", deleted_by_its_writer_meanwhile)
    report = collect_garbage(pipeline_schemas(clean), min_age_s=0)
    assert report["orphaned"] == 0 and report["deleted"] == 0


@pytest.mark.portable
def test_a_worker_syncs_the_catalogs_once_per_pass_not_once_per_table(clean, monkeypatch):
    from populate.worker import run_worker
    from schemas import catalog
    from schemas.training import TrainedModel

    register(seeds=[1], epochs=1)
    calls = []
    sync_all = catalog.sync_all

    def counted():
        calls.append(1)
        return sync_all()

    # SyncsCatalogs.populate looks the function up here too: a table that synced again would count
    monkeypatch.setattr(catalog, "sync_all", counted)
    summary = run_worker(display_progress=False, gc_min_age_s=None, poll_s=0.1)
    assert summary["done"]["TrainedModel"] == 1 and len(TrainedModel()) == 1
    assert summary["passes"] >= 2  # one that trained, one that found nothing left
    assert len(calls) == summary["passes"]
    # outside a worker's pass, a notebook's populate() of a catalog-keyed table still syncs
    from schemas.evaluation import Evaluation

    Evaluation.populate()
    assert len(calls) == summary["passes"] + 1
