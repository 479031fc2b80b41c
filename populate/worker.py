"""A worker: populate every auto-populated table, in dependency order, until no work is left.

Any number of workers, on any machines, can share one database: DataJoint's jobs tables
hand each job to exactly one of them. A worker

* runs one process per visible GPU (each child sees one GPU through CUDA_VISIBLE_DEVICES),
  or, without a GPU, ``--processes N`` CPU processes that split the cores between them
  (``run_cpu_pool``: at the demo's 1/8 width one training step keeps two threads only
  partly busy, and two one-thread processes trained 1.6x as many images per second as one
  two-thread process on a 2-core machine);
* re-queues jobs lost by killed or stopped workers (``populate.jobs.recover``) every
  ``maintenance_s`` seconds;
* on SIGTERM lets the running trainer save its checkpoint and stop, gives its job back,
  and exits;
* exits when nothing is pending or reserved anywhere, or keeps polling with ``forever``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict

log = logging.getLogger("populate.worker")


def visible_gpus() -> list[str]:
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [g.strip() for g in env.split(",") if g.strip() and g.strip() != "-1"]
    try:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())]
    except Exception:  # no usable CUDA runtime: a CPU worker
        return []


def _forwarder(children: list, forwarded: threading.Event | None = None):
    """A signal handler that passes SIGTERM/SIGINT on to the children still running (and
    sets ``forwarded``); ``children`` may still grow after it is installed."""

    def forward(signum, frame):
        if forwarded is not None:
            forwarded.set()
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    return forward


def run_fleet(argv: list[str]) -> int:
    """Start one child worker per GPU, forward SIGTERM/SIGINT to them, wait for all."""
    gpus = visible_gpus()
    children = []
    for gpu in gpus:
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu}
        children.append(subprocess.Popen([sys.executable, "-m", "populate", "worker", "--single", *argv], env=env))
    log.info("started %d workers, one per GPU %s", len(children), gpus)

    forward = _forwarder(children)
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    return max(codes, default=0)


def usable_cpus() -> int:
    """Cores this process may run on (its affinity, which container limits set), not the machine's."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


def threads_per_process(processes: int, cpus: int | None = None) -> int:
    """The torch threads each of ``processes`` CPU workers gets: the cores split evenly, at least one."""
    cpus = cpus or usable_cpus()
    return max(1, cpus // max(1, processes))


def merge_summaries(summaries: list[dict]) -> dict:
    """One summary for a pool of workers: jobs, errors and seconds added up per table.

    ``seconds`` and ``arithmetic_s`` become worker-seconds (two workers busy for 10 s add up
    to 20 s), so their ratio stays the share of the workers' time spent in arithmetic."""
    merged = {"pids": [s.get("pid") for s in summaries], "processes": len(summaries),
              "stopped": any(s.get("stopped") for s in summaries)}
    for field in ("done", "errors", "seconds", "arithmetic_s"):
        if any(field in s for s in summaries):
            total = defaultdict(float if field in ("seconds", "arithmetic_s") else int)
            for s in summaries:
                for table, value in s.get(field, {}).items():
                    total[table] += value
            merged[field] = {t: round(v, 1) if isinstance(v, float) else v for t, v in total.items()}
    if any("released" in s for s in summaries):
        merged["released"] = sum(s.get("released", 0) for s in summaries)
    return merged


def run_cpu_pool(argv: list[str], processes: int, cpus: int | None = None) -> dict:
    """Run ``processes`` single-process workers (``python -m populate worker --single`` with
    ``argv``), each with its share of the cores as torch threads; return their merged summary.

    Their output is shown line by line with the worker's number in front; SIGTERM and
    SIGINT are passed on, so each child stops at its next checkpoint and gives its job back
    (a child stopped before it could install its own handler counts as stopped, not failed).
    A child that fails makes the pool raise once every child has ended. No child collects
    the store's garbage; the caller does, once they have all ended (``collect_store_garbage``).
    """
    threads = threads_per_process(processes, cpus)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    children: list[subprocess.Popen] = []
    summaries: list[dict | None] = [None] * processes
    stop_forwarded = threading.Event()
    forward = _forwarder(children, stop_forwarded)

    def relay(number: int, child: subprocess.Popen) -> None:
        # every line is read, whatever it holds: a reader that gave up would leave the
        # child blocked on a full pipe
        for line in child.stdout:
            try:
                if line.startswith('{"worker_summary"'):
                    summaries[number] = json.loads(line)["worker_summary"]
                else:
                    print(f"[worker {number + 1}] {line}", end="", flush=True)
            except (ValueError, KeyError, OSError) as err:
                log.warning("worker %d: unreadable output line (%s)", number + 1, err)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    readers = []
    try:
        for number in range(processes):
            # no child collects garbage: one that ends first would see the others' uploads in flight
            child = subprocess.Popen([sys.executable, "-m", "populate", "worker", "--single", *argv, "--no-gc"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                                     bufsize=1)
            children.append(child)
            readers.append(threading.Thread(target=relay, args=(number, child), daemon=True))
            readers[-1].start()
        log.info("started %d CPU workers with %d thread(s) each", processes, threads)
        codes = [child.wait() for child in children]
        for reader in readers:
            # a process the child started (an image-corruption pool) may hold the pipe open
            reader.join(timeout=30)
    finally:
        for child in children:
            if child.poll() is None:  # only when the pool itself failed: leave no worker behind
                child.terminate()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stopped = stop_forwarded.is_set()
    failed = [(i + 1, code) for i, code in enumerate(codes)
              if (code != 0 or summaries[i] is None) and not (stopped and summaries[i] is None)]
    if failed:
        raise RuntimeError(f"CPU worker(s) {', '.join(f'{n} (exit code {c})' for n, c in failed)} failed; their output is above")
    finished = [s if s is not None else {"stopped": True} for s in summaries]
    merged = merge_summaries(finished)
    merged["stopped"] = merged["stopped"] or stopped
    merged["children"] = finished
    return merged


def collect_store_garbage(modules, min_age_s: float) -> dict:
    """Delete the store's unreferenced files older than ``min_age_s``, where the store is provably ours."""
    from schemas.storage import StoreOwnershipError, StoreScanError, collect_garbage, pipeline_schemas

    try:
        return collect_garbage(pipeline_schemas(modules), min_age_s=min_age_s)
    except (StoreOwnershipError, StoreScanError) as refused:  # the work is done; only cleaning is refused
        log.warning("garbage collection refused: %s", refused)
        return {"refused": str(refused)}


def _in_progress(tables) -> int:
    """Jobs pending or reserved by anyone: while there are some, more work may follow."""
    from . import jobs

    total = 0
    for table in tables:
        counts = jobs.instance(table).jobs.progress()
        total += counts["pending"] + counts["reserved"]
    return total


def run_worker(
    tables: list[str] | None = None,
    forever: bool = False,
    poll_s: float = 10.0,
    maintenance_s: float = 60.0,
    orphan_timeout_s: float = 24 * 3600,
    gc_min_age_s: float | None = 3600.0,
    display_progress: bool = True,
    measure_arithmetic: bool = False,
) -> dict:
    """Populate until done (or stopped); return a summary of what this worker did.

    ``measure_arithmetic``: also time, per table, the seconds spent in model passes and
    optimiser steps (``summary["arithmetic_s"]``; see :mod:`pipeline.profiling`).
    ``gc_min_age_s=None``: no garbage collection at the end (a pool's parent collects once
    every worker has ended, so no worker deletes another one's uploads in flight).
    """
    import contextlib

    from pipeline.device import check_gpu_usable
    from pipeline.profiling import ArithmeticClock

    check_gpu_usable()  # before any job is reserved: never train on the CPU without a word
    import datajoint as dj

    from schemas import catalog, connection, load_all, stop

    from . import jobs

    connection.configure()
    log.info("worker %d on %s; store: %s", os.getpid(), connection.describe(), connection.describe_store())
    dj.config["safemode"] = False  # the worker's own deletes (job bookkeeping, replaced rows) need no prompt
    signal.signal(signal.SIGTERM, stop.request_stop)
    signal.signal(signal.SIGINT, stop.request_stop)
    modules = load_all()
    all_tables = jobs.auto_tables(modules)
    jobs.declare_jobs_tables(all_tables)

    def adopt_reservations(old_id, new_id):
        jobs.adopt_reservations(all_tables, old_id, new_id)

    connection.on_reconnect(adopt_reservations)
    if tables:
        wanted = set(tables)
        selected = [t for t in all_tables if t.__name__ in wanted or f"{t.__module__.split('.')[-1]}.{t.__name__}" in wanted]
        unknown = wanted - {t.__name__ for t in selected} - {f"{t.__module__.split('.')[-1]}.{t.__name__}" for t in selected}
        if unknown:
            raise SystemExit(f"unknown table(s) {sorted(unknown)}; tables are {[t.__name__ for t in all_tables]}")
        all_tables = selected

    summary = {"pid": os.getpid(), "done": defaultdict(int), "errors": defaultdict(int), "seconds": defaultdict(float),
               "arithmetic_s": defaultdict(float), "stopped": False, "passes": 0}
    last_maintenance = -float("inf")
    idle = False  # said once per idle spell, at INFO (`populate -v worker`): tests wait for it
    while not stop.stop_requested():
        if time.monotonic() - last_maintenance >= maintenance_s:
            for table in all_tables:
                jobs.recover(table, orphan_timeout=orphan_timeout_s)
            last_maintenance = time.monotonic()
        progressed = 0
        summary["passes"] += 1
        try:
            # catalog entries for the models finished since the last pass, once for the whole
            # pass: a model finished in this pass is evaluated in the next one
            catalog.sync_all()
        except Exception as err:
            if not connection.is_connection_lost(err):
                raise
            log.warning("catalog sync: lost the database connection (%s); reconnecting", err)
            connection.reconnect()
            last_maintenance = -float("inf")  # re-queue what the lost connection held, at once
            continue
        with catalog.already_synced():
            for table in all_tables:
                if stop.stop_requested():
                    break
                started = time.monotonic()
                clock = ArithmeticClock() if measure_arithmetic else contextlib.nullcontext()
                try:
                    with clock:
                        result = jobs.instance(table).populate(reserve_jobs=True, suppress_errors=True,
                                                               display_progress=display_progress)
                except SystemExit:
                    # populate's own SIGTERM handler, or a trainer that stopped at its checkpoint
                    stop.request_stop()
                    break
                except Exception as err:
                    if not connection.is_connection_lost(err):
                        raise
                    # the server went away (a restart): reconnect and go on; recovery re-queues
                    # the reservation this worker held, and training resumes from its checkpoint
                    log.warning("%s: lost the database connection (%s); reconnecting", table.__name__, err)
                    connection.reconnect()
                    last_maintenance = -float("inf")
                    progressed += 1
                    break
                if result["success_count"] or result["error_list"]:
                    # wall time per stage (what the demo reports); passes that found no work are
                    # polling, not the stage's cost
                    summary["seconds"][table.__name__] += time.monotonic() - started
                    if measure_arithmetic:
                        summary["arithmetic_s"][table.__name__] += clock.seconds
                summary["done"][table.__name__] += result["success_count"]
                summary["errors"][table.__name__] += len(result["error_list"])
                for key, message in result["error_list"]:
                    log.error("%s %s failed: %s", table.__name__, key, message)
                progressed += result["success_count"]
        if stop.stop_requested() or progressed:
            idle = False
            continue
        # before going idle or exiting, give lost and transiently failed jobs another chance
        if sum(sum(jobs.recover(t, orphan_timeout=orphan_timeout_s).values()) for t in all_tables):
            last_maintenance = time.monotonic()
            continue
        if not forever and not _in_progress(all_tables):
            break
        if not idle:
            log.info("idle: no job ready; polling every %g s", poll_s)
        idle = True
        time.sleep(poll_s)

    if stop.stop_requested():
        summary["stopped"] = True
        summary["released"] = sum(jobs.release_own(table) for table in all_tables)
    elif gc_min_age_s is not None:
        summary["gc"] = collect_store_garbage(modules, gc_min_age_s)
    summary["done"], summary["errors"] = dict(summary["done"]), dict(summary["errors"])
    summary["seconds"] = {name: round(s, 1) for name, s in summary["seconds"].items()}
    if measure_arithmetic:
        summary["arithmetic_s"] = {name: round(s, 1) for name, s in summary["arithmetic_s"].items()}
    else:
        del summary["arithmetic_s"]
    return summary


def main(args) -> int:
    worker_args = dict(
        tables=args.tables.split(",") if args.tables else None,
        forever=args.forever,
        poll_s=args.poll,
        maintenance_s=args.maintenance,
        orphan_timeout_s=args.orphan_timeout,
        gc_min_age_s=None if args.no_gc else args.gc_min_age,
        measure_arithmetic=args.measure_arithmetic,
        # DataJoint's per-table bars redraw with carriage returns: on a terminal only
        display_progress=not args.quiet and sys.stderr.isatty(),
    )
    from pipeline.device import check_gpu_usable

    check_gpu_usable()  # a visible GPU that torch cannot use stops the worker here, in one line
    from schemas import settings

    settings.checkpoint_seconds()  # a malformed interval stops the worker here, not in every job
    settings.dead_grace_seconds()  # and so does a malformed grace, before the first recovery

    def passthrough() -> list[str]:
        """This command's worker options, for its children."""
        return sys.argv[sys.argv.index("worker") + 1 :] if "worker" in sys.argv else []

    if not args.single and len(visible_gpus()) > 1:
        return run_fleet(passthrough())
    if not args.single and args.processes > 1 and not visible_gpus():
        summary = run_cpu_pool(passthrough(), args.processes)
        if not args.no_gc and not summary["stopped"]:
            import schemas
            from schemas import connection

            connection.configure()
            summary["gc"] = collect_store_garbage(schemas.load_all(), args.gc_min_age)
        print(json.dumps({"worker_summary": summary}), flush=True)
        return 0
    summary = run_worker(**worker_args)
    print(json.dumps({"worker_summary": summary}), flush=True)
    return 0
