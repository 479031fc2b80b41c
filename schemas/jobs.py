"""Job bookkeeping for workers: which tables to populate, recovery of lost jobs, status.

DataJoint keeps a jobs table per auto-populated table. Two things leave a job stuck there:
a worker killed with SIGKILL leaves it ``reserved``; a worker stopped with SIGTERM leaves
an ``error`` whose message says so. Neither is the job's fault, so both are put back in
the queue here. Genuine errors stay until someone clears them.
"""

from __future__ import annotations

import inspect
import logging
import os
import platform

import datajoint as dj

import schemas

from .connection import TRANSIENT_ERRORS, connection
from .stop import STOP_MESSAGES

log = logging.getLogger(__name__)


def auto_tables(modules=None) -> list[type]:
    """Every Computed/Imported table of the given stage modules, in dependency order."""
    modules = modules or schemas.load_all()
    found = {}
    for module in modules:
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(obj, (dj.Computed, dj.Imported))
                and obj.__module__ == module.__name__
                and getattr(obj, "database", None)
            ):
                found[obj.full_table_name] = obj
    graph = connection().dependencies
    graph.load()
    order = {name: i for i, name in enumerate(graph.topo_sort())}
    return sorted(found.values(), key=lambda t: order.get(t.full_table_name, len(order)))


def _live_connection_ids() -> set[int] | None:
    """Connection ids the server reports alive, or None when this user cannot see them all."""
    conn = connection()
    if dj.config["database.backend"] == "postgresql":
        return {row[0] for row in conn.query("SELECT pid FROM pg_stat_activity").fetchall()}
    grants = " ".join(row[0] for row in conn.query("SHOW GRANTS").fetchall()).upper()
    if "ALL PRIVILEGES ON *.*" not in grants and "PROCESS" not in grants:
        return None  # without PROCESS a MySQL user sees only its own threads
    return {row[0] for row in conn.query("SELECT ID FROM information_schema.PROCESSLIST").fetchall()}


def _not_the_jobs_fault(transient: bool) -> str:
    """Restriction to error rows recorded because a worker was stopped (and, with
    ``transient``, because of a deadlock or lock timeout)."""
    clauses = [f"error_message LIKE '{prefix}%%'" for prefix in STOP_MESSAGES]
    if transient:
        clauses += [f"error_message LIKE '%%{marker}%%'" for marker in TRANSIENT_ERRORS]
    return f"status = 'error' AND ({' OR '.join(clauses)})"


def recover(table, orphan_timeout: float = 24 * 3600) -> dict:
    """Put back in the queue the jobs of ``table`` lost by stopped or killed workers.

    * reservations whose database connection no longer exists (the worker died);
    * reservations older than ``orphan_timeout`` seconds (for servers where liveness
      cannot be seen);
    * errors recorded because a worker was stopped (SIGTERM, Ctrl-C), or because of a
      transient database conflict (deadlock, lock timeout).
    """
    jobs = table.jobs
    if not jobs.is_declared:
        return {"dead": 0, "orphaned": 0, "stopped": 0}
    released = {"dead": 0, "orphaned": 0, "stopped": 0}
    live = _live_connection_ids()
    if live is not None:
        for job in jobs.reserved.to_dicts():
            if job["connection_id"] not in live:
                (jobs & jobs._get_pk(job)).delete_quick()
                released["dead"] += 1
    released["stopped"] = (jobs & _not_the_jobs_fault(transient=True)).delete_quick(get_count=True)
    if live is None:
        # only where liveness cannot be seen: a reservation older than the timeout counts as
        # lost (where it can be seen, a live worker's long job must keep its reservation)
        released["orphaned"] = jobs.refresh(orphan_timeout=orphan_timeout, delay=-1)["orphaned"]
    else:
        jobs.refresh(delay=-1)
    if any(released.values()):
        log.info("%s: re-queued %s", table.__name__, released)
    return released


def release_own(table) -> int:
    """Give back the jobs this process holds or stopped (called when a worker stops)."""
    jobs = table.jobs
    if not jobs.is_declared:
        return 0
    mine = jobs & {"connection_id": connection().connection_id, "pid": os.getpid(), "host": platform.node()}
    count = (mine & "status = 'reserved'").delete_quick(get_count=True)
    count += (mine & _not_the_jobs_fault(transient=False)).delete_quick(get_count=True)
    jobs.refresh(delay=-1)
    return count


def status(tables=None, errors_per_table: int = 3) -> list[dict]:
    """Per table: rows done, jobs pending, reserved and in error, and the latest errors."""
    report = []
    for table in tables or auto_tables():
        table = table()
        todo = len(table.key_source - table.proj())
        jobs = table.jobs
        counts = jobs.progress()
        latest = []
        if counts["error"]:
            latest = (jobs & "status = 'error'").to_dicts(
                order_by="completed_time DESC", limit=errors_per_table
            )
            latest = [
                {"key": jobs._get_pk(job), "error": job["error_message"], "host": job["host"], "at": str(job["completed_time"])}
                for job in latest
            ]
        report.append(
            {
                "table": f"{type(table).__module__.split('.')[-1]}.{type(table).__name__}",
                "done": len(table),
                "pending": max(todo - counts["reserved"] - counts["error"] - counts["ignore"], 0),
                "reserved": counts["reserved"],
                "errors": counts["error"],
                "latest_errors": latest,
            }
        )
    return report
