"""The object store's owner, and garbage collection of files that no row references.

**Ownership.** A store is owned by one database (one server and schema prefix). The
database keeps a random identity (``DatabaseIdentity``) and the store keeps the same
identity in a marker file at its root, ``.pipeline-owner-<prefix>.json``. The marker is
written when this database first uses a store that holds none of its schemas' files.
A database that meets a store owned by another one refuses to start (the classic slip:
``DJ_STORES`` set, ``DJ_HOST`` forgotten, so an empty embedded database came up on a
lab's store), and garbage collection deletes nothing unless the marker names this
database. A store with this prefix's files but no marker (made before markers existed)
is claimed only on request: ``python -m populate claim-store``.

**Garbage collection.** A failed or killed job can leave files in the store that no
committed row points to (an upload inside a transaction that rolled back, a replaced
checkpoint). DataJoint's collector finds them; this wrapper reads every table's
references strictly (a table whose references cannot be read stops the collection,
where DataJoint would log a warning and then delete the files that table references)
and deletes only files older than a grace period, so that a file another worker is
uploading right now, for a row it has not committed yet, is never taken.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import time
import uuid

import datajoint as dj

from .connection import describe, make_schema
from .settings import STORE, ConfigurationError, is_embedded, prefix

log = logging.getLogger(__name__)

schema = make_schema("storage")


class StoreOwnershipError(ConfigurationError):
    """The store belongs to another database, or its owner is unknown: nothing is deleted."""


class StoreUnavailableError(ConfigurationError):
    """The store cannot be used: it does not answer, refuses the credentials, or lacks the bucket."""


class StoreScanError(RuntimeError):
    """A table's store references could not be read: nothing is deleted."""


@schema
class DatabaseIdentity(dj.Manual):
    definition = """
    # this database's identity, also written into the store it owns (the owner marker)
    identity_slot : int16               # always 0: the table has one row
    ---
    database_id : char(32)              # random hex (uuid4), made when the pipeline first used this database
    created_at = CURRENT_TIMESTAMP : datetime  # server time it was made
    """


def database_id() -> str:
    """This database's identity, made on first use (concurrent first uses agree on one)."""
    DatabaseIdentity.insert1({"identity_slot": 0, "database_id": uuid.uuid4().hex}, skip_duplicates=True)
    return (DatabaseIdentity & {"identity_slot": 0}).fetch1("database_id")


def marker_name() -> str:
    return f".pipeline-owner-{prefix()}.json"


def _backend():
    from datajoint.hash_registry import get_store_backend

    return get_store_backend(STORE)


@contextlib.contextmanager
def _store_calls():
    """Errors of the store itself (botocore, s3fs, the OS) become one :class:`StoreUnavailableError`."""
    try:
        yield
    except (StoreOwnershipError, StoreUnavailableError):
        raise
    except Exception as err:
        raise _unavailable(err) from err


def read_marker() -> dict | None:
    """The owner marker of this prefix in the store, or None if there is none."""
    with _store_calls():
        backend = _backend()
        if not backend.exists(marker_name()):
            return None
        raw = backend.get_buffer(marker_name())
    try:
        marker = json.loads(raw)
        if not isinstance(marker, dict) or not isinstance(marker.get("database_id"), str):
            raise ValueError("no database_id")
    except ValueError as err:
        raise StoreOwnershipError(f"{_where()}: the owner marker {marker_name()} is unreadable ({err}); "
                                  "nothing is deleted") from None
    return marker


def _where() -> str:
    spec = dj.config["stores"][STORE]
    return f"store {spec.get('protocol', 'file')}:{spec.get('bucket', '')}{spec.get('location', '')}"


def _holds_our_files() -> bool:
    """Whether the store has files under this prefix's schema folders."""
    with _store_calls():
        backend = _backend()
        for section in ("_schema", "_hash"):
            root = backend._full_path(section)
            if not backend.fs.exists(root):
                continue
            if any(entry.rstrip("/").rsplit("/", 1)[-1].startswith(prefix()) for entry in backend.fs.ls(root, detail=False)):
                return True
        return False


def write_marker() -> dict:
    marker = {"database_id": database_id(), "database": describe(), "prefix": prefix(),
              "claimed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    with _store_calls():
        _backend().put_buffer(json.dumps(marker, indent=1).encode(), marker_name())
    return marker


def remove_own_marker() -> bool:
    """Delete this prefix's owner marker, if it names this database (the step before dropping
    the prefix's schemas for good: with the schemas goes the identity the marker names, and a
    later database under the same prefix would find the store owned by a database that is
    gone). Another database's marker is never touched. Returns whether one was deleted."""
    marker = read_marker()
    if marker is None or marker["database_id"] != database_id():
        return False
    with _store_calls():
        _backend().remove(marker_name())
    return True


def _unavailable(err: Exception) -> StoreUnavailableError:
    """The one-line reason a store cannot be used, with what to do about it."""
    spec = dj.config["stores"][STORE]
    reason = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}".strip()
    if spec.get("protocol") != "s3":
        return StoreUnavailableError(f"{_where()} cannot be used ({reason}); check the location in DJ_STORES "
                                     f"(or PIPELINE_HOME for the local store) and its permissions")
    where = f"bucket {spec.get('bucket')!r} at {spec.get('endpoint')}"
    name = type(err).__name__
    if "EndpointConnectionError" in name or "ConnectTimeout" in name or isinstance(err, ConnectionError):
        hint = "nothing answers there: start the object store (compose: the seaweedfs service) or fix endpoint in DJ_STORES"
    elif isinstance(err, PermissionError) or "AccessDenied" in reason or "Forbidden" in reason:
        hint = ("the store refused access: the bucket does not exist (compose creates it with the store-init service, "
                "docker/seaweedfs/create-bucket.sh) or access_key/secret_key in DJ_STORES may not use it")
    elif isinstance(err, FileNotFoundError) or "NoSuchBucket" in reason:
        hint = "the bucket does not exist: create it (docker/seaweedfs/create-bucket.sh) or fix bucket in DJ_STORES"
    else:
        hint = "check endpoint, bucket and credentials in DJ_STORES"
    return StoreUnavailableError(f"store {where} cannot be used ({reason}): {hint}")


def ensure_store_owner() -> dict | None:
    """Check (or, for a store with none of our files, establish) that this database owns
    the store; raise :class:`StoreOwnershipError` if another database does, and
    :class:`StoreUnavailableError` (one line, with a hint) if the store cannot be used.

    Returns the marker, or None for a store with our files and no marker (gc refuses it
    until it is claimed)."""
    marker = read_marker()
    if marker is None:
        if _holds_our_files():
            log.warning("%s holds files of prefix %r but no owner marker: gc deletes nothing until an operator "
                        "runs `python -m populate claim-store`", _where(), prefix())
            return None
        return write_marker()
    if marker["database_id"] != database_id():
        hint = (" This is the embedded default database (no DJ_HOST): set DJ_HOST (and DJ_BACKEND, DJ_PORT) to the "
                "database that owns the store, or unset DJ_STORES for a local store." if is_embedded() else
                " Point DJ_STORES at this database's own store, or DJ_HOST at the store's database.")
        raise StoreOwnershipError(
            f"{_where()} belongs to another database ({marker.get('database', '?')}, id {marker['database_id']}), "
            f"not to this one ({describe()}, id {database_id()}).{hint}"
        )
    return marker


def claim_store() -> dict:
    """Write this database's marker into a store that has none (an operator's explicit act)."""
    marker = read_marker()
    if marker is not None:
        if marker["database_id"] == database_id():
            return marker
        raise StoreOwnershipError(
            f"{_where()} is owned by {marker.get('database', '?')} (id {marker['database_id']}); it is not claimed. "
            f"If that database is gone for good, delete {marker_name()} from the store and claim again."
        )
    return write_marker()


def _is_empty_folder(fs, full_path: str) -> bool:
    """Whether ``full_path`` is a folder with no file anywhere below it."""
    try:
        if not fs.isdir(full_path):
            return False
        # SeaweedFS lists an empty folder as an entry of its own: only other entries are files
        folder = full_path.rstrip("/")
        return not [name for name in fs.find(full_path) if name.rstrip("/") != folder]
    except FileNotFoundError:
        return True


def _age_seconds(fs, full_path: str) -> float | None:
    """Seconds since the file was written; None when it is gone: a live worker replaced the
    checkpoint it names (its previous file is deleted) between the listing and this look."""
    try:
        info = fs.info(full_path)
    except FileNotFoundError:
        return None
    stamp = info.get("mtime") or info.get("LastModified") or info.get("last_modified")
    if stamp is None:
        return float("inf")
    if isinstance(stamp, datetime.datetime):
        return (datetime.datetime.now(datetime.timezone.utc) - stamp).total_seconds()
    return time.time() - float(stamp)


class _StrictCollector(dj.gc.GarbageCollector):
    """DataJoint's collector, except that a table whose references cannot be read is fatal.

    The tables are listed once per collection: DataJoint's ``list_tables`` and ``get_table``
    reload the whole dependency graph from the catalog on every call (208 reloads, 6 of a
    gc's 8 s on PostgreSQL); the same tables and headings are read here from one load."""

    def _tables(self) -> list[tuple]:
        """(schema, table name, FreeTable) of every user table, as ``list_tables`` gives them."""
        if getattr(self, "_listed", None) is None:
            conn = self.schemas[0].connection
            conn.dependencies.load()
            order = [conn.adapter.split_full_table_name(name) for name in conn.dependencies.topo_sort()]
            self._listed = [(schema_, table_name, dj.FreeTable(conn, conn.adapter.make_full_table_name(database, table_name)))
                            for schema_ in self.schemas for database, table_name in order if database == schema_.database]
        return self._listed

    def _references(self, heading_attr: str, verbose: bool) -> set[str]:
        referenced: set[str] = set()
        for schema_, table_name, table in self._tables():
            try:
                for attr_name in getattr(table.heading, heading_attr):
                    codec = table.heading.attributes[attr_name].codec
                    for row in table.proj(attr_name).cursor(as_dict=True):
                        paths = codec.referenced_paths(row[attr_name])
                        if row[attr_name] is not None and not paths:
                            # an external attribute's value always names its file;
                            # DataJoint would read this as "no file" and delete it
                            raise ValueError(f"{attr_name} holds {str(row[attr_name])[:60]!r}, which names no file")
                        for path, ref_store in paths:
                            if self.store is None or ref_store == self.store:
                                referenced.add(path)
            except StoreScanError:
                raise
            except Exception as err:
                raise StoreScanError(f"{schema_.database}.{table_name}: its store references could not be read "
                                     f"({type(err).__name__}: {err}); nothing deleted") from err
        return referenced


def collect_garbage(schemas, min_age_s: float = 3600, dry_run: bool = False) -> dict:
    """Delete unreferenced store files of ``schemas`` older than ``min_age_s`` seconds.

    Refuses (raises, deleting nothing) unless the store's owner marker names this database,
    and if any table's references cannot be read."""
    if ensure_store_owner() is None:  # raises if another database owns the store
        raise StoreOwnershipError(
            f"{_where()} has no owner marker {marker_name()}, so nothing is deleted. If this database "
            f"({describe()}) owns the store, run `python -m populate claim-store` and then gc again."
        )
    collector = _StrictCollector(*schemas, store=STORE)
    report = collector.collect(dry_run=True)
    if report["scan_errors"]:
        raise StoreScanError(f"store scan failed, nothing deleted: {report['scan_errors']}")
    fs, root = collector.backend.fs, collector.backend
    # An object store with real folders (SeaweedFS's filer) keeps a folder after its last
    # file is deleted, and lists it as a path; it holds no bytes and no row can reference
    # it, so it is neither an orphan to report nor a file to delete.
    orphaned = [p for p in report["orphaned_schema_paths"] if not _is_empty_folder(fs, root._full_path(p))]
    ages = {p: _age_seconds(fs, root._full_path(p)) for p in orphaned}
    orphaned = [p for p in orphaned if ages[p] is not None]  # gone meanwhile: nothing to report or delete
    candidates = [p for p in orphaned if ages[p] >= min_age_s]
    deleted = 0 if dry_run else sum(bool(collector.delete_schema_path(p)) for p in candidates)
    return {
        "orphaned": len(orphaned),
        "old_enough": len(candidates),
        "deleted": deleted,
        "bytes_orphaned": report["schema_paths_orphaned_bytes"],
        "dry_run": dry_run,
    }


def pipeline_schemas(modules) -> list:
    return [module.schema for module in modules if hasattr(module, "schema")]
