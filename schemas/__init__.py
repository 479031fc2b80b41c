"""DataJoint schema modules, one per pipeline stage; their ``make`` methods call ``pipeline``.

Importing a stage module declares its table classes and never connects. :func:`activate`
binds every stage to the database (see :mod:`schemas.connection`), as DataJoint Elements
do: the CLI, the worker, the demo, the notebook and the tests call it first.
:data:`STAGES` lists the stage modules in the order they depend on each other.
"""

from __future__ import annotations

import importlib
import os
import warnings

# DataJoint logs to stdout by default; keep stdout for results (status --json, summaries).
os.environ.setdefault("DJ_LOG_STREAM", "stderr")

# DataJoint warns at import that no datajoint.json exists: this project configures it from
# the environment (schemas.connection), so the file is not expected.
warnings.filterwarnings("ignore", message="No datajoint.json found")
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

STAGES = (
    "schemas.storage",
    "schemas.registry",
    "schemas.training",
    "schemas.recording",
    "schemas.predictor",
    "schemas.images",
    "schemas.classifier",
    "schemas.corruption",
    "schemas.experiment",
    "schemas.responses",
    "schemas.mtl",
    "schemas.neural",
    "schemas.evaluation",
    "schemas.robustness",
    "schemas.saliency",
    "schemas.reconstruction",
)


def activate(prefix: str | None = None) -> list:
    """Bind every stage's tables to the database, declaring what is missing, and return the
    stage modules in order. ``prefix`` names the schemas (``<prefix><stage>``; default
    ``PIPELINE_PREFIX``); a process works with one prefix. Calling it again does nothing."""
    from . import connection

    if prefix is not None and prefix != os.environ.get("PIPELINE_PREFIX", connection.DEFAULT_PREFIX):
        bound = connection.bound_prefix()
        if bound is not None:
            raise connection.ConfigurationError(
                f"this process's tables are bound to prefix {bound!r}; a process works with one prefix, not {prefix!r}")
        os.environ["PIPELINE_PREFIX"] = prefix

    # connect first: a configuration or connection error surfaces before the stage modules
    # (and what they import) are loaded
    connection.connection()
    modules = [importlib.import_module(name) for name in STAGES]
    for name in STAGES:
        connection.activate_stage(name.rsplit(".", 1)[1])
    return modules


def load_all() -> list:
    """The stage modules, activated (the name scripts used before :func:`activate`)."""
    return activate()
