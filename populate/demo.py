"""The demo: register a small experiment and materialise it with a worker.

It runs on whatever database the environment names; with nothing configured that is the
embedded PostgreSQL under ./.pipeline. Later stages add themselves to the registry
content defined in :mod:`populate.profiles`.
"""

from __future__ import annotations

import json
import time

from . import profiles


def main(args) -> int:
    from schemas import connection, jobs

    from .worker import run_worker

    started = time.monotonic()
    print(f"database: {connection.describe()}")
    entries = profiles.register("demo")
    print(f"registered: {json.dumps(entries)}")
    summary = run_worker(display_progress=True, gc_min_age_s=0)
    print(f"worker: {json.dumps(summary, default=str)}")
    for row in jobs.status():
        print(f"  {row['table']:30} done {row['done']:>4}  pending {row['pending']:>4}  errors {row['errors']:>3}")
    print(f"\ndemo finished in {time.monotonic() - started:.0f} s.")
    print(
        "Query the results from Python:\n"
        "  from schemas.training import TrainedModel\n"
        "  TrainedModel.to_pandas()\n"
        "or see every table's state with:  .venv/bin/python -m populate status"
    )
    return 0
