"""The store knows which database owns it: gc never deletes another database's files, a
database never starts on a store another one owns, and a table whose references cannot be
read stops gc before anything is deleted."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from .helpers import REPO

pytestmark = pytest.mark.backend_specific


def _store(backend) -> Path:
    return Path(backend.env["PIPELINE_HOME"]) / "store"


def _files(store: Path) -> list[str]:
    return sorted(str(p.relative_to(store)) for p in store.rglob("*") if p.is_file())


def _populated(backend):
    """An image dataset stored: its arrays are files in the store."""
    from populate import demo, profiles

    demo.ensure_image_set(profiles.profile("tiny")["image_set"])
    files = _files(_store(backend))
    assert len(files) > 3
    return files


def _cli(env, *args, timeout=300):
    return subprocess.run([os.sys.executable, "-m", "populate", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_an_empty_store_takes_this_databases_identity(clean, backend):
    from schemas import storage

    marker = json.loads((_store(backend) / storage.marker_name()).read_text())
    assert marker["database_id"] == storage.database_id() and marker["prefix"] == backend.env["PIPELINE_PREFIX"]
    assert len(storage.DatabaseIdentity()) == 1


def test_a_second_database_on_the_same_store_refuses_to_start_and_gc_deletes_nothing(clean, backend, worker_env,
                                                                                    tmp_path):
    before = _populated(backend)
    # the slip that deleted a lab's files: DJ_STORES set, DJ_HOST forgotten
    env = {k: v for k, v in worker_env.items() if not k.startswith("DJ_")}
    env["PIPELINE_HOME"] = str(tmp_path / "other-home")
    env["DJ_STORES"] = json.dumps({"artifacts": {"protocol": "file", "location": str(_store(backend))}})
    for command in (("gc", "--min-age", "0"), ("status",)):
        out = _cli(env, *command)
        assert out.returncode == 2, (command, out.stdout, out.stderr)
        lines = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and "Traceback" not in out.stderr
        assert "belongs to another database" in lines[0] and "embedded default database (no DJ_HOST)" in lines[0]
    assert _files(_store(backend)) == before


def test_gc_refuses_a_store_without_a_marker_until_it_is_claimed(clean, backend, worker_env):
    from schemas import storage

    before = _populated(backend)
    (_store(backend) / storage.marker_name()).unlink()
    before.remove(storage.marker_name())
    with pytest.raises(storage.StoreOwnershipError, match="no owner marker .* run `python -m populate claim-store`"):
        storage.collect_garbage(storage.pipeline_schemas(clean), min_age_s=0)
    out = _cli(worker_env, "gc", "--min-age", "0")
    assert out.returncode == 2 and "claim-store" in out.stderr and "Traceback" not in out.stderr
    assert _files(_store(backend)) == before
    out = _cli(worker_env, "claim-store")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["database_id"] == storage.database_id()
    out = _cli(worker_env, "gc", "--min-age", "0")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["deleted"] == 0  # every file is referenced


def test_a_reference_that_cannot_be_read_stops_gc_before_any_delete(clean, backend):
    from schemas import storage
    from schemas.images import ImageDataset

    before = _populated(backend)
    # a row whose file reference is damaged: DataJoint reads it as "no file" and would
    # delete the file it pointed to
    table = ImageDataset.Split
    table.connection.query(f"UPDATE {table.full_table_name} SET images = %s WHERE split = 'test'", args=('"garbage"',))
    with pytest.raises(storage.StoreScanError, match=r"image_dataset__split: its store references could not be read"):
        storage.collect_garbage(storage.pipeline_schemas(clean), min_age_s=0)
    assert _files(_store(backend)) == before
