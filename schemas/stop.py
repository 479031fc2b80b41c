"""Graceful stop: SIGTERM asks a running job to stop at its next checkpoint.

DataJoint's distributed ``populate`` turns SIGTERM into ``SystemExit`` wherever the process
happens to be. While a trainer runs, :func:`stop_at_checkpoints` replaces that with a flag
the trainer polls after each epoch; it then saves a checkpoint and stops, and the job is
released by the worker (see ``populate.jobs``) so that any worker can resume it.
"""

from __future__ import annotations

import contextlib
import signal
import threading

_stop = threading.Event()

#: Prefixes of job error messages that mean "the worker was stopped", not "the make failed".
STOP_MESSAGES = ("WorkerStopped", "SystemExit", "KeyboardInterrupt")


class WorkerStopped(SystemExit):
    """Raised out of a make that stopped on request; a SystemExit so populate does not swallow it."""


def request_stop(signum=None, frame=None) -> None:
    _stop.set()


def stop_requested() -> bool:
    return _stop.is_set()


def reset() -> None:
    _stop.clear()


@contextlib.contextmanager
def stop_at_checkpoints():
    """Within this block SIGTERM only sets the stop flag (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
