"""The pipeline on a real SeaweedFS S3 store (compose's object store), on every database leg.

A SeaweedFS server is started per module with compose's own scripts (``tests/integration/seaweedfs.py``)
on free loopback ports. The pipeline processes here are subprocesses with ``DJ_STORES``
naming that server (protocol ``s3``) and a schema prefix of their own, so the rest of the
suite keeps its local store. Covered: ``<npy@artifacts>`` (image arrays), ``<object@artifacts>``
(checkpoints, trained weights), a worker stopped at a checkpoint and resumed from it, gc,
the owner marker in the bucket, and the one-line errors for a store that cannot be used.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import textwrap

import pytest

from .helpers import REPO, finish, one_error_line, start_worker, wait_for
from .seaweedfs import SeaweedFS

pytestmark = pytest.mark.portable

LOCATION = "pipeline"


@pytest.fixture(scope="module")
def seaweedfs():
    server = SeaweedFS()
    yield server
    server.stop()


_prefixes = itertools.count()


@pytest.fixture
def s3_env(seaweedfs, worker_env, backend, tmp_path):
    """A pipeline environment on the SeaweedFS store, with its own schema prefix and home;
    its schemas are dropped afterwards."""
    prefix = f"{backend.env['PIPELINE_PREFIX']}s3{next(_prefixes)}_"
    env = {**worker_env, "PIPELINE_PREFIX": prefix, "PIPELINE_HOME": str(tmp_path / "home"),
           "DJ_STORES": json.dumps({"artifacts": seaweedfs.store(f"{LOCATION}/{prefix}")})}
    yield env
    drop = "import schemas\nfor m in reversed(schemas.load_all()):\n    m.schema.drop(prompt=False)\n"
    subprocess.run([sys.executable, "-c", drop], cwd=REPO, env=env, capture_output=True, timeout=300)


def _python(env, code: str, timeout: float = 600) -> dict:
    """Run ``code`` in a pipeline process on ``env`` (its tables bound first, as every script
    of the pipeline's binds them); it prints one JSON line, returned here."""
    script = "import schemas\nschemas.activate()\n" + textwrap.dedent(code)
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _bucket_files(seaweedfs, prefix: str) -> list[str]:
    import s3fs

    fs = s3fs.S3FileSystem(key=seaweedfs.access_key, secret=seaweedfs.secret_key, use_ssl=False,
                           client_kwargs={"endpoint_url": f"http://{seaweedfs.endpoint}"},
                           skip_instance_cache=True, use_listings_cache=False)  # each look sees the bucket now
    root = f"{seaweedfs.bucket}/{LOCATION}/{prefix}"
    try:
        return sorted(path[len(root) + 1:] for path in fs.find(root))
    except FileNotFoundError:  # nothing written under the prefix yet
        return []


CHECKPOINT_EPOCH = """
    import json
    from schemas.training import TrainingCheckpoint
    rows = TrainingCheckpoint().to_dicts()
    print(json.dumps({"epoch": rows[0]["epoch"] if rows else 0}))
"""


def test_arrays_checkpoints_and_weights_live_in_the_bucket_and_a_stopped_worker_resumes_from_it(
        seaweedfs, s3_env, python, tmp_path):
    from .helpers import SLOW_DATA

    # long enough that the job is still training when the poll below (a listing of the
    # bucket) has seen its first checkpoint and the worker gets SIGTERM
    EPOCHS = 10
    setup = f"""
        import json
        from populate import demo, profiles
        from tests.integration.helpers import register
        demo.ensure_image_set(profiles.profile("tiny")["image_set"])
        register(seeds=[3], data={SLOW_DATA!r}, epochs={EPOCHS}, hidden=(128,))
        print(json.dumps({{"ok": True}}))
    """
    _python(s3_env, setup)
    worker = start_worker(python, s3_env)
    wait_for(lambda: any("checkpoint" in path for path in _bucket_files(seaweedfs, s3_env["PIPELINE_PREFIX"])),
             timeout=300, interval=0.2, what="a checkpoint in the bucket")
    worker.send_signal(signal.SIGTERM)
    stopped = finish(worker, timeout=120)
    assert stopped["stopped"] is True and stopped["released"] == 1, stopped
    assert not stopped["done"].get("TrainedModel"), stopped  # stopped at a checkpoint, not finished
    saved = _python(s3_env, CHECKPOINT_EPOCH)["epoch"]
    assert saved >= 1
    in_bucket = _bucket_files(seaweedfs, s3_env["PIPELINE_PREFIX"])
    assert any("checkpoint" in path for path in in_bucket), in_bucket

    summary = finish(start_worker(python, s3_env, "--gc-min-age", "0"), timeout=600)
    assert summary["done"].get("TrainedModel") == 1 and "refused" not in summary["gc"], (stopped, summary)
    check = """
        import json
        import numpy as np
        from schemas import load_all, storage
        from schemas.images import ImageDataset
        from schemas.training import TrainedModel, TrainingCheckpoint
        row = TrainedModel().to_dicts()[0]
        weights = TrainedModel().load_state_dict({k: row[k] for k in TrainedModel.primary_key})
        images = (ImageDataset.Split & {"split": "train"}).to_arrays("images")[0]
        report = storage.collect_garbage(storage.pipeline_schemas(load_all()), min_age_s=0, dry_run=True)
        print(json.dumps({"resumed_from_epoch": row["output"]["resumed_from_epoch"], "epochs": len(row["output"]["history"]),
                          "tensors": len(weights), "image_shape": list(images.shape), "image_dtype": str(images.dtype),
                          "checkpoints": len(TrainingCheckpoint()), "orphaned": report["orphaned"],
                          "marker": storage.read_marker()["database_id"] == storage.database_id()}))
    """
    result = _python(s3_env, check)
    assert result["resumed_from_epoch"] >= saved and saved < result["epochs"] <= EPOCHS  # the plateau rule may end it early
    assert result["tensors"] > 0 and result["checkpoints"] == 0
    assert result["image_shape"][1:] == [64, 64] and result["image_dtype"] == "uint8"
    assert result["orphaned"] == 0 and result["marker"] is True, (result, summary["gc"])
    assert not (tmp_path / "home" / "store").exists()  # nothing went to a local store
    after = _bucket_files(seaweedfs, s3_env["PIPELINE_PREFIX"])
    assert f".pipeline-owner-{s3_env['PIPELINE_PREFIX']}.json" in after
    assert not any("checkpoint" in path for path in after)  # the finished job's checkpoint was removed


def test_gc_on_the_bucket_deletes_an_orphan_and_keeps_every_referenced_file(seaweedfs, s3_env):
    code = """
        import json, tempfile
        from pathlib import Path
        from populate import demo, profiles
        from schemas import load_all, storage
        from schemas.images import ImageDataset
        from schemas.training import TrainingCheckpoint
        from tests.integration.helpers import register
        demo.ensure_image_set(profiles.profile("tiny")["image_set"])
        job = {**register(seeds=[1]), "seed": 1}
        path = Path(tempfile.mkdtemp()) / "checkpoint.pt"
        path.write_bytes(b"partial")
        conn = TrainingCheckpoint.connection
        conn.start_transaction()  # an upload whose row never commits: its file is an orphan
        TrainingCheckpoint.insert1({**job, "epoch": 1, "state": str(path)})
        conn.cancel_transaction()
        schemas_ = storage.pipeline_schemas(load_all())
        fresh = storage.collect_garbage(schemas_, min_age_s=3600)
        report = storage.collect_garbage(schemas_, min_age_s=0)
        images = (ImageDataset.Split & {"split": "test"}).to_arrays("images")[0]
        print(json.dumps({"fresh_deleted": fresh["deleted"], "orphaned": report["orphaned"], "deleted": report["deleted"],
                          "after": storage.collect_garbage(schemas_, min_age_s=0, dry_run=True)["orphaned"],
                          "test_images": int(images.shape[0])}))
    """
    result = _python(s3_env, code)
    assert result["fresh_deleted"] == 0  # too young: it might be another worker's upload in flight
    assert result["orphaned"] == 1 and result["deleted"] == 1 and result["after"] == 0
    assert result["test_images"] > 0  # referenced arrays are still there


def _one_error_line(env, *command, timeout=180) -> str:
    out = subprocess.run([sys.executable, "-m", "populate", *command], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=timeout)
    return one_error_line(out)


def test_a_missing_bucket_is_one_line_that_names_it(seaweedfs, s3_env):
    env = {**s3_env, "DJ_STORES": json.dumps({"artifacts": seaweedfs.store(LOCATION, bucket="no-such-bucket")})}
    line = _one_error_line(env, "status")
    assert "'no-such-bucket'" in line and seaweedfs.endpoint in line and "create-bucket.sh" in line


def test_a_store_that_does_not_answer_is_one_line_with_a_hint(seaweedfs, s3_env):
    spec = {**seaweedfs.store(LOCATION), "endpoint": "127.0.0.1:9"}  # the discard port: nothing listens
    line = _one_error_line({**s3_env, "DJ_STORES": json.dumps({"artifacts": spec})}, "status")
    assert "127.0.0.1:9" in line and "nothing answers there" in line
