"""Catalogs: one key for results that come from several tables.

Several stages consume models of different kinds through one foreign key: predicted
responses come from the Monkey Predictor or the Oracle's readout; the neural evaluation
scores Monkey Predictors, Oracle readouts and MTL models alike; the corruption evaluation
takes every classifier. A catalog is a table keyed by a content hash (the source table's
name and the source row's key) with one Part table per source, each a foreign key to that
source, so ``dj.Diagram`` shows every edge.

A catalog entry is bookkeeping, not computation: :func:`sync_all` adds the entries of new
source rows (idempotent; several workers may run it at once), and workers run it before
every populate pass. Tables keyed by a catalog inherit :class:`SyncsCatalogs`, so their
``populate()`` in a notebook sees the newest models too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

import datajoint as dj

from pipeline.config import config_hash, plain

from .retry import retry_transient


class Catalog:
    """Mixin for a ``dj.Manual`` catalog: ``id_attr`` names its hash attribute and
    :meth:`catalog_sources` lists (part table, source, fields of the master row), where a
    source is a query expression or a function returning the source rows' keys."""

    id_attr: str = ""

    def catalog_sources(self) -> list[tuple[type, object, Callable[[dict], dict]]]:
        raise NotImplementedError

    def entry_id(self, part: type, key: dict) -> str:
        return config_hash(part.__name__, plain(key))

    def sync(self) -> int:
        """Add an entry for every source row that has none; return how many were added."""
        added = 0
        for part, source, fields in self.catalog_sources():
            if isinstance(source, type):  # a table: its primary keys
                rows = source.proj().to_dicts()
            else:  # a query (its rows as they are), or a function returning rows
                rows = source.to_dicts() if hasattr(source, "to_dicts") else source()
            candidates = [plain(k) for k in rows]
            if not candidates:
                continue
            # compared in Python: DataJoint's antijoin matches on primary attributes only
            attrs = [a for a in part.heading.names if a != self.id_attr and a in candidates[0]]
            existing = {tuple(row[a] for a in attrs) for row in part.proj(*part.heading.secondary_attributes).to_dicts()}
            for key in candidates:
                if tuple(key[a] for a in attrs) in existing:
                    continue
                entry = {self.id_attr: self.entry_id(part, key), **fields(key)}
                master = {k: entry[k] for k in self.heading.names if k in entry}
                row = {**{k: master[k] for k in self.primary_key}, **{a: key[a] for a in attrs}}

                def insert():
                    with self.connection.transaction:
                        self.insert1(master, skip_duplicates=True)
                        part.insert1(row, skip_duplicates=True)

                retry_transient(insert)
                added += 1
        return added

    def source_of(self, key) -> tuple[str, dict]:
        """(part name, the part row: the source's key) of one catalog entry."""
        for part, _, _ in self.catalog_sources():
            rows = (part & dict(key)).to_dicts()
            if rows:
                return part.__name__, rows[0]
        raise LookupError(f"{type(self).__name__}: no source row for {dict(key)}")


def catalogs() -> list[type]:
    """Every catalog class of the loaded stage modules, in stage order."""
    import schemas

    found = []
    for name in schemas.STAGES:
        module = sys.modules.get(name)
        for obj in vars(module).values() if module else ():
            if isinstance(obj, type) and issubclass(obj, Catalog) and issubclass(obj, dj.Table) and obj.__module__ == name:
                found.append(obj)
    return found


def sync_all() -> int:
    return sum(catalog().sync() for catalog in catalogs())


#: set while a caller (the worker's pass) has synced the catalogs itself
_synced_by_caller = False


@contextlib.contextmanager
def already_synced():
    """Inside, catalog-keyed tables' ``populate()`` does not sync: the caller has (a worker's
    pass syncs once for all its tables, not once per table)."""
    global _synced_by_caller
    previous, _synced_by_caller = _synced_by_caller, True
    try:
        yield
    finally:
        _synced_by_caller = previous


class SyncsCatalogs:
    """For computed tables keyed by a catalog: bring the catalogs up to date, then populate
    (a notebook's ``Evaluation.populate()`` sees the newest models)."""

    def populate(self, *args, **kwargs):
        if not _synced_by_caller:
            sync_all()
        return super().populate(*args, **kwargs)
