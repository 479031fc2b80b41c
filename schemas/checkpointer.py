"""``TableCheckpointer``: a training job's checkpoints kept as a row of its checkpoint table
(:class:`~schemas.trained_model.CheckpointBase`).

It builds on :mod:`pipeline.training`, which imports torch, so it lives apart from
:mod:`schemas.trained_model`, whose tables every command defines: ``make_compute`` imports
it when a job trains.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.training.checkpoint import Checkpointer

from . import stop
from .connection import connection
from .retry import retry_lost_connection, retry_transient
from .trained_model import _scratch

if TYPE_CHECKING:
    from .trained_model import CheckpointBase


class TableCheckpointer(Checkpointer):
    """Keeps one job's latest checkpoint as a row of a :class:`CheckpointBase` table.

    Each save replaces the row in a short transaction of its own (training holds no
    transaction), then deletes the previous file from the store. A process killed between
    the two leaves only an unreferenced file, which garbage collection removes.
    """

    def __init__(self, table: CheckpointBase, key: dict, **policy):
        super().__init__(stop_requested=stop.stop_requested, **policy)
        self.table, self.key = table, dict(key)

    def _row(self):
        return self.table & self.key

    def _write(self, epoch: int, data: bytes) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="ckpt-", dir=_scratch()))
        try:
            path = tmp / "checkpoint.pt"
            path.write_bytes(data)

            def save():
                conn = connection()
                old = self._row().fetch1("state") if self._row() else None

                def replace():
                    with conn.transaction:
                        self._row().delete_quick()
                        self.table.insert1({**self.key, "epoch": epoch, "state": str(path)})

                retry_transient(replace)
                return old

            # training holds no transaction, so a server restart between checkpoints only
            # costs a reconnect here
            old = retry_lost_connection(save)
            if old is not None:
                old.fs.rm(old.full_path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _read(self) -> bytes | None:
        def read():
            return self._row().fetch1("state").read() if self._row() else None

        return retry_lost_connection(read)

    def saved_epoch(self) -> int | None:
        return self._row().fetch1("epoch") if self._row() else None
