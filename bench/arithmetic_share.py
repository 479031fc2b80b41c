"""Share of the demo's worker time spent in training and inference arithmetic.

``make demo`` runs its worker under :class:`pipeline.profiling.ArithmeticClock`, one per
table: seconds inside model forward passes, backward passes and optimiser steps count as
arithmetic; loading and decoding data, augmentation, building models, checkpoints and
database round trips do not. This script reads that record
(``$PIPELINE_HOME/demo-timing.json``) and prints the share per table and over the worker.
Goal (issue 16): >= 80% of the worker's time.

Tables that do no model arithmetic by design (CorruptionSet corrupts images in a process
pool; the import and bookkeeping tables) count in the denominator: they are the demo's cost.

It also draws the shares (``figure``): one bar per table, its arithmetic seconds and the
rest, with the numbers beside each bar; ``make bench`` writes it to
``bench/figures/arithmetic_share.png`` (the README shows the committed one).

Run ``make demo`` first, alone on the machine; then ``.venv/bin/python bench/arithmetic_share.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from demo_wall import read_record, timing_file

FIGURE = Path(__file__).resolve().parent / "figures" / "arithmetic_share.png"

GOAL = 0.8


def figure(result: dict, path: Path = FIGURE) -> Path:
    """Horizontal bars: per table, worker-seconds in arithmetic and in everything else."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["tables"] if r["seconds"] >= 0.5][::-1] or result["tables"][:1]  # largest at the top
    fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(rows) + 1.4))
    names = [r["table"] for r in rows]
    arithmetic = [r["arithmetic_s"] for r in rows]
    rest = [max(r["seconds"] - r["arithmetic_s"], 0.0) for r in rows]
    ax.barh(names, arithmetic, color="#3b6ea5", label="model passes and optimiser steps")
    ax.barh(names, rest, left=arithmetic, color="#c8c8c8", label="loading, building, bookkeeping")
    for i, r in enumerate(rows):
        share = f"{r['share']:.0%}" if r["share"] is not None else "-"
        ax.text(r["seconds"], i, f"  {r['seconds']:.0f} s, {share}", va="center", fontsize=8)
    ax.set_xlabel("worker-seconds (summed over the demo's worker processes)")
    ax.set_xlim(0, max([r["seconds"] for r in rows] + [1.0]) * 1.3)
    ax.set_title(f"Demo of {result['measured']}: {result['share']:.1%} of {result['worker_s']:.0f} worker-s in arithmetic",
                 fontsize=10)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(figure_path: Path | None = FIGURE) -> dict:
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
    result = {"measured": record["date"], "machine": record["machine"], "worker_s": round(worker_s, 1),
              "arithmetic_s": round(arithmetic_s, 1), "share": round(share, 3), "goal": GOAL, "met": share >= GOAL,
              "worker_processes": record.get("worker_processes", 1), "tables": rows}
    if figure_path is not None:
        result["figure"] = str(figure(result, figure_path))
        print(f"figure: {result['figure']}")
    return result


if __name__ == "__main__":
    main()
