"""DataJoint schema modules, one per pipeline stage; their ``make`` methods call ``pipeline``.

Importing a stage module connects (see :mod:`schemas.connection`) and declares its tables.
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


def load_all() -> list:
    """Import every stage module (declaring its tables) and return the modules."""
    return [importlib.import_module(name) for name in STAGES]
