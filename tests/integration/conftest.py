"""Fixtures for tests against a real database server (see tests/backends.py).

The backend is chosen before any ``schemas`` module is imported, because importing one
connects. Layering: ``backend`` (session: server, prefix, store) -> ``pipeline_modules``
(session: declared schemas, dropped at the end) -> ``clean`` (per test: empty tables,
empty store) or ``tiny_graph`` (the ``tiny`` profile's whole graph, populated once per leg
and shared by every test that reads it).

Every integration test is marked ``portable`` (no backend changes the behaviour: it runs
once, on the postgresql leg) or ``backend_specific`` (it runs on every leg); an unmarked
test is a collection error. The README's Tests section lists which is which, and why.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.backends import runs_portable_tests, select

BACKEND = select()
for _name, _value in BACKEND.env.items():
    if _value == "":
        os.environ.pop(_name, None)
    else:
        os.environ[_name] = _value

REPO = Path(__file__).resolve().parents[2]


PORTABLE = runs_portable_tests(BACKEND.name)


def pytest_report_header(config):
    header = f"database backend: {BACKEND.name}" + (f" (skipped: {BACKEND.skip_reason})" if BACKEND.skip_reason else "")
    return header + ("; with the portable tests" if PORTABLE else "; backend-specific tests only (portable ones run on "
                                                                  "the postgresql leg)")


def _graph_order(item) -> int:
    """Tests that read the shared graph run together, before those that add to it, so that
    it is populated once per leg (``extends_graph(last=True)``: after the other extenders);
    the rest keep their order."""
    extends = item.get_closest_marker("extends_graph")
    if extends:
        return 3 if extends.kwargs.get("last") else 2
    return 1 if "tiny_graph" in getattr(item, "fixturenames", ()) else 0


def pytest_collection_modifyitems(config, items):
    unmarked = [item.nodeid for item in items
                if bool(item.get_closest_marker("portable")) == bool(item.get_closest_marker("backend_specific"))]
    if unmarked:
        raise pytest.UsageError("integration tests must be marked exactly one of portable or backend_specific: "
                                + ", ".join(unmarked))
    if not PORTABLE:
        deselected = [item for item in items if item.get_closest_marker("portable")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("portable")]
    items.sort(key=_graph_order)  # stable: within a group, collection order
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


#: how often the database was emptied: the shared graph knows whether it is still there
_resets = 0


def reset(pipeline_modules, backend):
    """Empty tables, jobs and store."""
    global _resets
    _resets += 1
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


class _SharedGraph:
    """The ``tiny`` graph of this leg: built by the first test that asks, reused while no
    reset emptied the database and no test added to it."""

    built_at: int | None = None  # the value of ``_resets`` right after it was built
    extended = False
    value = None
    builds = 0


def _shared_graph(pipeline_modules, backend, pristine: bool):
    if _SharedGraph.built_at != _resets or (pristine and _SharedGraph.extended):
        from populate import demo, profiles
        from populate.worker import run_worker

        reset(pipeline_modules, backend)
        spec = profiles.profile("tiny")
        demo.ensure_virtual_monkey(spec["virtual_monkey"])
        demo.ensure_image_set(spec["image_set"])
        entries = profiles.register("tiny")
        summary = run_worker(display_progress=False, gc_min_age_s=0)
        _SharedGraph.value = (entries, summary, pipeline_modules)
        _SharedGraph.built_at, _SharedGraph.extended = _resets, False
        _SharedGraph.builds += 1
    return _SharedGraph.value


@pytest.fixture
def tiny_graph(pipeline_modules, backend):
    """The ``tiny`` profile's whole graph, populated by a worker once per leg: (registry
    entries, the worker's summary, the stage modules). Tests that use it only read it, or
    add what they take away again; a test that adds to it asks for ``tiny_graph_to_extend``."""
    return _shared_graph(pipeline_modules, backend, pristine=True)


@pytest.fixture
def tiny_graph_to_extend(pipeline_modules, backend):
    """The shared ``tiny`` graph, for a test that adds a second experiment or a lab's model
    to it (marked ``extends_graph``, so it runs after the readers). Extensions of different
    tests live side by side, each under its own experiment; a later reader gets a fresh graph."""
    return extend_shared_graph(pipeline_modules, backend)


def extend_shared_graph(pipeline_modules, backend):
    """``tiny_graph_to_extend`` for a module's fixture."""
    value = _shared_graph(pipeline_modules, backend, pristine=False)
    _SharedGraph.extended = True
    return value


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
