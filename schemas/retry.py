"""Retrying database work: transient conflicts (deadlocks, lock timeouts) and a lost server
connection (a restart), on MySQL, MariaDB and PostgreSQL alike."""

from __future__ import annotations

import datajoint as dj

#: messages of database errors that say "try again", not "this is wrong"
TRANSIENT_ERRORS = ("Deadlock found", "deadlock detected", "Lock wait timeout", "could not serialize access")


def is_transient(error: BaseException) -> bool:
    return any(marker in str(error) for marker in TRANSIENT_ERRORS)


def retry_transient(action, attempts: int = 5, pause_s: float = 0.2):
    """Run ``action()``; on a deadlock or lock timeout, wait a little and run it again."""
    import random
    import time

    for attempt in range(attempts):
        try:
            return action()
        except Exception as err:
            if not is_transient(err) or attempt == attempts - 1:
                raise
            time.sleep(pause_s * (2**attempt) * (0.5 + random.random()))


_LOST = ("Lost connection", "server closed the connection", "connection already closed", "Server connection lost",
         "Can't connect", "terminating connection", "MySQL server has gone away", "Connection refused")


def is_connection_lost(error: BaseException) -> bool:
    """Whether ``error`` says the server connection is gone (a restart), on any driver."""
    if isinstance(error, dj.errors.LostConnectionError):
        return True
    names = {type(e).__name__ for e in (error, error.__cause__, error.__context__) if e is not None}
    return bool(names & {"OperationalError", "InterfaceError"}) and any(m in str(error) for m in _LOST) or (
        "InterfaceError" in names and str(error) in ("(0, '')", "")
    )


def retry_lost_connection(action, wait_s: float = 300.0):
    """Run ``action()``; if the server connection was lost, reconnect (waiting for the server)
    and run it once more. For short, idempotent steps (checkpoint writes, job bookkeeping)."""
    try:
        return action()
    except Exception as err:
        if not is_connection_lost(err):
            raise
        from .connection import reconnect

        reconnect(wait_s)
        return action()
