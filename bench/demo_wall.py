"""Demo wall time by stage: what the last ``make demo`` measured on this machine.

The demo itself takes most of ten minutes, so it is not run again here; ``make demo``
times every step and every table it populates and writes ``$PIPELINE_HOME/demo-timing.json``
(``./.pipeline`` by default). This script reads that record and prints the share of each
stage. Run ``make demo`` first, alone on the machine: timings taken beside other work are
not the demo's.

Run: ``.venv/bin/python bench/demo_wall.py``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timing_file() -> Path:
    home = Path(os.environ.get("PIPELINE_HOME", ROOT / ".pipeline"))
    return home / "demo-timing.json"


def read_record() -> dict:
    """The last demo's timing record, or ``{"skipped": why}`` (printed) when there is none."""
    path = timing_file()
    if not path.exists():
        message = f"no demo timing at {path}: run `make demo` first"
        print(message, file=sys.stderr)
        return {"skipped": message}
    return json.loads(path.read_text())


def main() -> dict:
    record = read_record()
    if "skipped" in record:
        return record
    total = record["total_s"]
    rows = [{"stage": name, "seconds": s, "share": round(s / total, 3)} for name, s in record["steps_s"].items()]
    # a table's seconds are its workers' seconds added up (the demo runs several processes):
    # its share is of the workers' time, not of the wall time
    worker_s = sum(record["tables_s"].values()) or 1.0
    tables = [{"table": name, "seconds": s, "jobs": record["jobs"].get(name, 0), "share_of_worker_time": round(s / worker_s, 3)}
              for name, s in sorted(record["tables_s"].items(), key=lambda item: -item[1])]
    result = {"measured": record["date"], "machine": record["machine"], "cpus": record["cpus"], "total_s": total,
              "worker_processes": record.get("worker_processes", 1),
              "steps": rows, "tables": tables}
    print(f"demo of {record['date']} on {record['machine']}: {total:.0f} s")
    for row in rows:
        print(f"  {row['stage']:40} {row['seconds']:7.1f} s  {row['share']:6.1%}")
    for row in tables:
        print(f"    {row['table']:38} {row['seconds']:7.1f} worker-s  {row['share_of_worker_time']:6.1%}  ({row['jobs']} jobs)")
    return result


if __name__ == "__main__":
    main()
