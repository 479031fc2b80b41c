"""Fixtures for tests against a real database server (see tests/backends.py).

The backend is chosen before any ``schemas`` module is imported, because importing one
connects. Layering: ``backend`` (session: server, prefix, store) -> ``pipeline_modules``
(session: declared schemas, dropped at the end) -> ``clean`` (per test: empty tables,
empty store).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.backends import select

BACKEND = select()
for _name, _value in BACKEND.env.items():
    if _value == "":
        os.environ.pop(_name, None)
    else:
        os.environ[_name] = _value

REPO = Path(__file__).resolve().parents[2]


def pytest_report_header(config):
    return f"database backend: {BACKEND.name}" + (f" (skipped: {BACKEND.skip_reason})" if BACKEND.skip_reason else "")


def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.integration)
        if BACKEND.skip_reason:
            item.add_marker(pytest.mark.skip(reason=BACKEND.skip_reason))


@pytest.fixture(scope="session")
def backend():
    yield BACKEND
    if BACKEND.container is not None:
        BACKEND.container.stop()


@pytest.fixture(scope="session")
def pipeline_modules(backend):
    import datajoint as dj

    import schemas

    modules = schemas.load_all()
    dj.config["safemode"] = False  # the tests' own deletes; interactive use keeps DataJoint's prompt
    yield modules
    import datajoint as dj

    for module in reversed(modules):
        module.schema.drop(prompt=False)
    from schemas import connection

    if connection.is_embedded():
        connection.stop_embedded()
    else:
        dj.conn().close()
    shutil.rmtree(backend.env["PIPELINE_HOME"], ignore_errors=True)


def _empty_all(modules):
    import datajoint as dj

    from populate.jobs import auto_tables

    for table in auto_tables(modules):
        if table.jobs.is_declared:
            table.jobs.delete_quick()
    for module in reversed(modules):
        for name in reversed(module.schema.list_tables()):
            module.schema.connection.query(f"DELETE FROM {_quoted(module.schema, name)}")
    for module in modules:  # Lookup contents come back, as after declaration
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, dj.Lookup) and getattr(obj, "contents", None):
                obj.insert(obj.contents, skip_duplicates=True)


def _quoted(schema, table_name):
    q = schema.connection.adapter.quote_identifier
    return f"{q(schema.database)}.{q(table_name)}"


def reset(pipeline_modules, backend):
    """Empty tables, jobs and store."""
    _empty_all(pipeline_modules)
    store = Path(backend.env["PIPELINE_HOME"]) / "store"
    shutil.rmtree(store, ignore_errors=True)
    store.mkdir(parents=True, exist_ok=True)
    from schemas import storage

    storage.ensure_store_owner()  # the emptied database has a new identity; the empty store takes it
    from schemas import stop

    stop.reset()


@pytest.fixture
def clean(pipeline_modules, backend):
    """Empty tables, jobs and store before the test."""
    reset(pipeline_modules, backend)
    yield pipeline_modules


@pytest.fixture(scope="module")
def tiny_graph(pipeline_modules, backend):
    """The ``tiny`` profile's whole graph, populated once per test module by a worker."""
    from populate import demo, profiles
    from populate.worker import run_worker

    reset(pipeline_modules, backend)
    spec = profiles.profile("tiny")
    demo.ensure_virtual_monkey(spec["virtual_monkey"])
    demo.ensure_image_set(spec["image_set"])
    entries = profiles.register("tiny")
    summary = run_worker(display_progress=False, gc_min_age_s=0)
    return entries, summary, pipeline_modules


@pytest.fixture
def worker_env(backend):
    """Environment for a worker subprocess: the same database, prefix and store as the tests."""
    env = {k: v for k, v in os.environ.items() if k not in BACKEND.env}
    env.update({k: v for k, v in backend.env.items() if v != ""})
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def python():
    return sys.executable
