"""Whether a "spawn" process pool can start from this process.

A spawned worker process re-imports the parent's main module: by name for ``python -m``,
by path for a script. A script read from stdin (``python - <<EOF``) has the path
``<stdin>``, which no child can re-import, so every task of such a pool fails. The pools of
the pipeline ask :func:`why_no_spawn_pool` first and run in this one process instead, with
the reason logged (their results are the same: every image has its own seed).
"""

from __future__ import annotations

import logging
import multiprocessing.process
import os
import sys

log = logging.getLogger(__name__)


def why_no_spawn_pool() -> str | None:
    """The reason a spawn pool cannot start from this process, or None if it can."""
    main = sys.modules.get("__main__")
    if getattr(getattr(main, "__spec__", None), "name", None):
        return None  # python -m ...: children import it by name
    path = getattr(main, "__file__", None)
    if path is None:
        return None  # python -c, an interactive session, a notebook: nothing to re-run
    if not os.path.isabs(path) and multiprocessing.process.ORIGINAL_DIR is not None:
        path = os.path.join(multiprocessing.process.ORIGINAL_DIR, path)
    if not os.path.isfile(path):
        return f"the main script {getattr(main, '__file__')!r} is not a file that worker processes can re-import"
    return None


def usable_workers(workers: int, what: str) -> int:
    """``workers``, or 1 (one process, with the reason logged) where no spawn pool can start."""
    if workers <= 1:
        return workers
    reason = why_no_spawn_pool()
    if reason is None:
        return workers
    log.warning("%s runs in one process instead of %d: %s (run it as a file or with python -m)", what, workers, reason)
    return 1
