"""Share of the demo's worker time spent in training and inference arithmetic.

``make demo`` runs its worker under :class:`pipeline.profiling.ArithmeticClock`, one per
table: seconds inside model forward passes, backward passes and optimiser steps count as
arithmetic; loading and decoding data, augmentation, building models, checkpoints and
database round trips do not. This script reads that record
(``$PIPELINE_HOME/demo-timing.json``) and prints the share per table and over the worker.
Goal (issue 16): >= 80% of the worker's time.

Tables that do no model arithmetic by design (CorruptionSet corrupts images in a process
pool; the import and bookkeeping tables) count in the denominator: they are the demo's cost.

Run ``make demo`` first, alone on the machine; then ``.venv/bin/python bench/arithmetic_share.py``.
"""

from __future__ import annotations

import sys

from demo_wall import read_record, timing_file

GOAL = 0.8


def main() -> dict:
    record = read_record()
    if "skipped" in record:
        return record
    arithmetic = record.get("arithmetic_s")
    if not arithmetic:
        message = f"{timing_file()} has no arithmetic_s (written by an older demo): run `make demo` again"
        print(message, file=sys.stderr)
        return {"skipped": message}
    seconds = record["tables_s"]
    worker_s = sum(seconds.values())
    arithmetic_s = sum(arithmetic.get(table, 0.0) for table in seconds)
    rows = [{"table": table, "seconds": s, "arithmetic_s": arithmetic.get(table, 0.0),
             "share": round(arithmetic.get(table, 0.0) / s, 3) if s else None, "jobs": record["jobs"].get(table, 0)}
            for table, s in sorted(seconds.items(), key=lambda item: -item[1])]
    share = arithmetic_s / worker_s if worker_s else float("nan")
    print(f"demo of {record['date']} on {record['machine']}: worker {worker_s:.0f} s, of it arithmetic "
          f"{arithmetic_s:.0f} s = {share:.1%} (goal >= {GOAL:.0%}: {'met' if share >= GOAL else 'NOT met'})")
    for row in rows:
        table_share = f"{row['share']:6.1%}" if row["share"] is not None else "     -"
        print(f"  {row['table']:32} {row['seconds']:7.1f} s  arithmetic {row['arithmetic_s']:7.1f} s  {table_share}  "
              f"({row['jobs']} jobs)")
    return {"measured": record["date"], "machine": record["machine"], "worker_s": round(worker_s, 1),
            "arithmetic_s": round(arithmetic_s, 1), "share": round(share, 3), "goal": GOAL, "met": share >= GOAL,
            "tables": rows}


if __name__ == "__main__":
    main()
