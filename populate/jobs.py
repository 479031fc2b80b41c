"""Job bookkeeping for workers: which tables to populate, recovery of lost jobs, status.

It lives with its users, the worker, the demo and ``populate status``; the schemas know
nothing of it.

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

from schemas.connection import connection
from schemas.retry import TRANSIENT_ERRORS
from schemas.stop import STOP_MESSAGES

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


#: one instance per table class in this process: DataJoint builds a fresh instance's job
#: table anew, reloading the whole dependency graph from the catalog (35 ms a table on
#: PostgreSQL, 1.2 s per pass over the pipeline's tables); an instance keeps its own
_instances: dict = {}


def instance(table):
    """This process's instance of the table class ``table`` (an instance is returned as it is)."""
    if not isinstance(table, type):
        return table
    if table not in _instances:
        _instances[table] = table()
    return _instances[table]


def declare_jobs_tables(tables, attempts: int = 3) -> None:
    """Declare the jobs table of each of ``tables`` that has none yet.

    Workers that start together on a new PostgreSQL database race to declare the same jobs
    table: DataJoint creates the table "if not exists" but its index without, so the loser
    gets "relation ... already exists". By then the winner has declared it, and a second
    look finds it declared."""
    for table in tables:
        for attempt in range(attempts):
            try:
                instance(table).jobs
                break
            except Exception as err:
                if "already exists" not in str(err) or attempt == attempts - 1:
                    raise
                log.info("%s: another worker declared its jobs table at the same moment; looking again", table.__name__)


def has_process_privilege(grants: list[str]) -> bool:
    """Whether MySQL/MariaDB ``SHOW GRANTS`` lines give PROCESS (or ALL) on ``*.*``.

    The privilege list of each ``GRANT <privileges> ON <object> TO ...`` line is parsed:
    a user or host named like a privilege (``dataprocessor``) grants nothing."""
    import re

    for line in grants:
        match = re.match(r"\s*GRANT\s+(.+?)\s+ON\s+(\S+)\s+TO\s", line, flags=re.IGNORECASE | re.DOTALL)
        if not match or match.group(2).replace("`", "") != "*.*":
            continue
        privileges = [p.strip().upper() for p in re.sub(r"\([^)]*\)", "", match.group(1)).split(",")]
        if "PROCESS" in privileges or "ALL PRIVILEGES" in privileges or "ALL" in privileges:
            return True
    return False


def _live_connections() -> tuple[dict[int, object], object] | None:
    """({connection id: its start time or None}, the server's start time) of the connections
    the server reports alive, or None when this user cannot see them all.

    The start times tell a reused id from the connection that made a reservation: a
    PostgreSQL backend that started after the reservation is another process, and on
    MySQL/MariaDB (whose ids restart from 1 with the server) so is any id seen after a
    server start that is later than the reservation."""
    conn = connection()
    if dj.config["database.backend"] == "postgresql":
        rows = conn.query("SELECT pid, backend_start, pg_postmaster_start_time() FROM pg_stat_activity").fetchall()
        started = rows[0][2] if rows else None
        return {row[0]: row[1] for row in rows}, started
    grants = [row[0] for row in conn.query("SHOW GRANTS").fetchall()]
    if not has_process_privilege(grants):
        return None  # without PROCESS a MySQL user sees only its own threads
    ids = {row[0]: None for row in conn.query("SELECT ID FROM information_schema.PROCESSLIST").fetchall()}
    started = conn.query("SELECT NOW() - INTERVAL VARIABLE_VALUE SECOND FROM information_schema.GLOBAL_STATUS "
                         "WHERE VARIABLE_NAME = 'UPTIME'").fetchone()
    return ids, (started[0] if started else None)


def _naive(stamp):
    """Comparable datetimes: the jobs table stores server-local naive times."""
    if stamp is None:
        return None
    return stamp.replace(tzinfo=None) if getattr(stamp, "tzinfo", None) is not None else stamp


def _connection_is_gone(job: dict, live: dict, server_started) -> bool:
    reserved = _naive(job.get("reserved_time"))
    cid = job["connection_id"]
    if cid not in live:
        return True
    if reserved is None:
        return False
    if server_started is not None and _naive(server_started) > reserved:
        return True  # the server restarted after the reservation: every id since is new
    began = _naive(live[cid])
    return began is not None and began > reserved  # the id now belongs to a newer backend


#: a reservation whose connection is gone is re-queued only if it is still gone this long
#: after it was first seen gone (``PIPELINE_DEAD_GRACE_SECONDS``, default 10 s): its worker
#: may be reconnecting and about to adopt it
_seen_gone: dict = {}


def _not_the_jobs_fault(transient: bool) -> str:
    """Restriction to error rows recorded because a worker was stopped (and, with
    ``transient``, because of a deadlock or lock timeout)."""
    clauses = [f"error_message LIKE '{prefix}%%'" for prefix in STOP_MESSAGES]
    if transient:
        clauses += [f"error_message LIKE '%%{marker}%%'" for marker in TRANSIENT_ERRORS]
    return f"status = 'error' AND ({' OR '.join(clauses)})"


def recover(table, orphan_timeout: float = 24 * 3600, dead_grace_s: float | None = None) -> dict:
    """Put back in the queue the jobs of ``table`` lost by stopped or killed workers.

    * reservations whose database connection no longer exists (the worker died);
    * reservations older than ``orphan_timeout`` seconds (for servers where liveness
      cannot be seen);
    * errors recorded because a worker was stopped (SIGTERM, Ctrl-C), or because of a
      transient database conflict (deadlock, lock timeout).
    """
    import time

    from schemas import settings

    if dead_grace_s is None:
        dead_grace_s = settings.dead_grace_seconds()
    jobs = instance(table).jobs
    if not jobs.is_declared:
        return {"dead": 0, "orphaned": 0, "stopped": 0}
    released = {"dead": 0, "orphaned": 0, "stopped": 0}
    seen = _live_connections()
    live = None if seen is None else seen[0]
    if seen is not None:
        now = time.monotonic()
        for job in jobs.reserved.to_dicts():
            pk = jobs._get_pk(job)
            mark = (jobs.full_table_name, tuple(sorted(pk.items())), job["connection_id"], str(job["reserved_time"]))
            if not _connection_is_gone(job, *seen):
                _seen_gone.pop(mark, None)
                continue
            first = _seen_gone.setdefault(mark, now)
            if now - first < dead_grace_s:
                continue
            # delete only the reservation as it was read: if its worker has adopted it
            # (new connection id) or another worker took it since, it is not ours to drop
            as_read = {"connection_id": job["connection_id"], "status": "reserved", "reserved_time": job["reserved_time"]}
            count = (jobs & pk & as_read).delete_quick(get_count=True)
            _seen_gone.pop(mark, None)
            released["dead"] += count
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


def adopt_reservations(tables, old_id: int, new_id: int) -> int:
    """After a reconnect: move this process's reservations from its old connection id to
    the new one, so that other workers still see them as alive."""
    adopted = 0
    conn = connection()
    q = conn.adapter.quote_identifier
    for table in tables:
        jobs = instance(table).jobs
        if not jobs.is_declared:
            continue
        cursor = conn.query(
            f"UPDATE {jobs.full_table_name} SET {q('connection_id')} = %s WHERE {q('status')} = 'reserved' "
            f"AND {q('connection_id')} = %s AND {q('pid')} = %s AND {q('host')} = %s",
            args=(int(new_id), int(old_id), os.getpid(), platform.node()),
        )
        adopted += cursor.rowcount or 0
    if adopted:
        log.warning("reconnected: %d reservation(s) moved from connection %s to %s", adopted, old_id, new_id)
    return adopted


def release_own(table) -> int:
    """Give back the jobs this process holds or stopped (called when a worker stops)."""
    jobs = instance(table).jobs
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
        jobs = instance(table).jobs
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
