"""Run the integration tests once per database backend: ``make test-integration``.

    python tests/run_integration.py [--jobs N] BACKEND [BACKEND ...]

Each backend is one pytest run (a "leg") with ``PIPELINE_TEST_BACKEND`` set; the legs use
different servers, schema prefixes and store folders, so ``--jobs 2`` runs two of them side
by side (on a machine with cores to spare: on 2 cores a leg and its server keep both busy).
A leg's output is printed whole when it ends (prefixed by its name), then a table
of every leg's result and wall time; the exit status is non-zero if any leg failed.

The portable tests (marked ``portable``) run on the postgresql leg; where postgresql is not
among the backends asked for, on the first leg (``PIPELINE_TEST_PORTABLE=1``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def leg_command(slowest: int, junit: Path) -> list[str]:
    return [sys.executable, "-m", "pytest", "tests/integration", "-q", "-rs", f"--durations={slowest}",
            "-p", "no:cacheprovider", f"--junitxml={junit}"]


def slowest_tests(reports: dict[str, Path], count: int) -> list[tuple[float, str, str]]:
    """(seconds with set-up and tear-down, leg, test) of the slowest tests of every leg."""
    import xml.etree.ElementTree as ET

    timings = []
    for name, path in reports.items():
        if not path.exists() or path.stat().st_size == 0:
            continue
        for case in ET.parse(path).iter("testcase"):
            timings.append((float(case.get("time", 0)), name, f"{case.get('classname')}::{case.get('name')}"))
    return sorted(timings, reverse=True)[:count]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("backends", nargs="+", help="postgresql, mariadb, embedded, mysql8")
    parser.add_argument("--jobs", type=int, default=1, help="legs run side by side (default 1)")
    parser.add_argument("--durations", type=int, default=15, help="the slowest tests listed per leg (default 15)")
    args = parser.parse_args(argv)
    portable_leg = "postgresql" if "postgresql" in args.backends else args.backends[0]

    reports = {name: Path(tempfile.mkdtemp(prefix=f"legs-{name}-")) / "junit.xml" for name in args.backends}
    pending = list(args.backends)
    running: dict[str, tuple[subprocess.Popen, float, object]] = {}
    results: dict[str, tuple[int, float]] = {}
    while pending or running:
        while pending and len(running) < max(1, args.jobs):
            name = pending.pop(0)
            env = {**os.environ, "PIPELINE_TEST_BACKEND": name,
                   "PIPELINE_TEST_PORTABLE": "1" if name == portable_leg else "0"}
            log = tempfile.TemporaryFile(mode="w+")
            print(f"=== integration tests against {name}: started{' (with the portable tests)' if name == portable_leg else ''}",
                  flush=True)
            process = subprocess.Popen(leg_command(args.durations, reports[name]), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                       text=True)
            running[name] = (process, time.monotonic(), log)
        time.sleep(0.5)
        for name, (process, started, log) in list(running.items()):
            if process.poll() is None:
                continue
            del running[name]
            results[name] = (process.returncode, time.monotonic() - started)
            log.seek(0)
            print(f"=== integration tests against {name}: exit {process.returncode} after {results[name][1] / 60:.1f} min")
            for line in log:
                print(f"[{name}] {line}", end="")
            log.close()
            sys.stdout.flush()
    slowest = slowest_tests(reports, args.durations)
    if slowest:
        print(f"\n=== the {len(slowest)} slowest integration tests of all legs (set-up and tear-down included)")
        for seconds, name, test in slowest:
            print(f"  {seconds:7.1f} s  {name:11} {test}")
    print("\n=== integration legs")
    for name in args.backends:
        code, seconds = results[name]
        print(f"  {name:12} {'passed' if code == 0 else 'FAILED (exit %d)' % code:18} {seconds / 60:5.1f} min")
    for path in reports.values():
        shutil.rmtree(path.parent, ignore_errors=True)
    return 1 if any(code != 0 for code, _ in results.values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
