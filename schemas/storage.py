"""Garbage collection of the object store: files that no row references any more.

A failed or killed job can leave files in the store that no committed row points to
(an upload inside a transaction that rolled back, a replaced checkpoint). DataJoint's
collector finds them; this wrapper only deletes those older than a grace period, so that
a file another worker is uploading right now, for a row it has not committed yet, is
never taken.
"""

from __future__ import annotations

import datetime
import time

import datajoint as dj

from .connection import STORE


def _age_seconds(fs, full_path: str) -> float:
    info = fs.info(full_path)
    stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if stamp is None:
        return float("inf")
    if isinstance(stamp, datetime.datetime):
        return (datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()
    return time.time() - float(stamp)


def collect_garbage(schemas, min_age_s: float = 3600, dry_run: bool = False) -> dict:
    """Delete unreferenced store files of ``schemas`` older than ``min_age_s`` seconds."""
    collector = dj.gc.GarbageCollector(*schemas, store=STORE)
    report = collector.collect(dry_run=True)
    if report["scan_errors"]:
        raise RuntimeError(f"store scan failed, nothing deleted: {report['scan_errors']}")
    fs, root = collector.backend.fs, collector.backend
    candidates = [p for p in report["orphaned_schema_paths"] if _age_seconds(fs, root._full_path(p)) >= min_age_s]
    deleted = 0 if dry_run else sum(bool(collector.delete_schema_path(p)) for p in candidates)
    return {
        "orphaned": len(report["orphaned_schema_paths"]),
        "old_enough": len(candidates),
        "deleted": deleted,
        "bytes_orphaned": report["schema_paths_orphaned_bytes"],
        "dry_run": dry_run,
    }


def pipeline_schemas(modules) -> list:
    return [module.schema for module in modules if hasattr(module, "schema")]
