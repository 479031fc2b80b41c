"""``python -m populate COMMAND``: worker, status, gc, demo."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback


def _status(args) -> int:
    if args.watch is None:
        return _status_once(args)
    import time

    interactive = sys.stdout.isatty()
    try:
        while True:
            if interactive:
                print("\033[H\033[2J", end="")  # clear and home: the table refreshes in place
            else:
                print(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}")
            _status_once(args)
            sys.stdout.flush()
            time.sleep(args.watch)
    except KeyboardInterrupt:  # how a watch ends
        return 0


def _status_once(args) -> int:
    from schemas import connection

    from . import jobs

    report = jobs.status()
    if args.json:
        print(json.dumps({"database": connection.describe(), "store": connection.describe_store(), "tables": report},
                         indent=2, default=str))
        return 0
    print(f"database: {connection.describe()}")
    print(f"store:    {connection.describe_store()}")
    header = f"{'table':40} {'done':>7} {'pending':>8} {'reserved':>9} {'errors':>7}"
    print(header)
    print("-" * len(header))
    for row in report:
        print(f"{row['table']:40} {row['done']:>7} {row['pending']:>8} {row['reserved']:>9} {row['errors']:>7}")
    for row in report:
        for err in row["latest_errors"]:
            print(f"  {row['table']} {err['key']} on {err['host']} at {err['at']}:\n    {err['error']}")
    return 0


def _gc(args) -> int:
    from schemas import load_all
    from schemas.storage import StoreScanError, collect_garbage, pipeline_schemas

    try:
        print(json.dumps(collect_garbage(pipeline_schemas(load_all()), min_age_s=args.min_age, dry_run=args.dry_run)))
    except StoreScanError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _claim_store(args) -> int:
    from schemas import connection, storage

    # only the storage stage: the other stages' activation checks the owner, which claiming decides
    connection.activate_stage("storage")

    print(json.dumps(storage.claim_store()))
    return 0


def _at_least_one(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _worker(args) -> int:
    from . import worker

    return worker.main(args)


def _register(args) -> int:
    import schemas

    from . import profiles

    schemas.load_all()
    print(json.dumps(profiles.register(args.profile, experiment=args.experiment, image_dataset=args.image_dataset,
                                       neural_dataset=args.neural_dataset), default=str))
    return 0


def _demo(args) -> int:
    from . import demo

    return demo.main(args)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"cotrain-pipeline {version('cotrain-pipeline')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "cotrain-pipeline (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m populate", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level, and show the traceback behind a one-line error")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("worker", help="populate every table until no work is left")
    p.add_argument("--forever", action="store_true", help="keep polling for new work instead of exiting")
    p.add_argument("--poll", type=float, default=10.0, help="seconds between polls when idle (default 10)")
    p.add_argument("--tables", help="comma-separated table names to populate (default: all)")
    p.add_argument("--maintenance", type=float, default=60.0, help="seconds between re-queueing lost jobs (default 60)")
    p.add_argument("--orphan-timeout", type=float, default=24 * 3600,
                   help="seconds after which a reservation is presumed lost when liveness cannot be seen (default 1 day)")
    p.add_argument("--gc-min-age", type=float, default=3600.0,
                   help="unreferenced store files older than this many seconds are deleted at exit (default 3600)")
    p.add_argument("--single", action="store_true", help="one process, even when several GPUs are visible")
    p.add_argument("--processes", type=_at_least_one, default=1,
                   help="without a GPU: this many worker processes, the cores split between them (default 1)")
    p.add_argument("--no-gc", action="store_true", help="leave garbage collection of the store to someone else")
    p.add_argument("--measure-arithmetic", action="store_true",
                   help="time model passes and optimiser steps per table (in the summary's arithmetic_s)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_worker, activate=False)

    p = sub.add_parser("status", help="rows done, pending, reserved and errors per table")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--watch", type=float, nargs="?", const=5.0, metavar="SECONDS",
                   help="refresh every SECONDS (default 5) until interrupted; in place on a terminal")
    p.set_defaults(func=_status)

    p = sub.add_parser("gc", help="delete store files that no row references")
    p.add_argument("--min-age", type=float, default=3600.0, help="only files older than this many seconds (default 3600)")
    p.add_argument("--dry-run", action="store_true", help="report only")
    p.set_defaults(func=_gc)

    p = sub.add_parser("claim-store", help="write this database's owner marker into a store that has none")
    p.set_defaults(func=_claim_store, activate=False)

    from . import ingest

    ingest.add_parser(sub)
    # the report's figures need matplotlib: imported when the command runs, so that status,
    # worker and the rest start without it
    p = sub.add_parser("report", help="write the paper's figures and an index.html from the database")
    p.add_argument("outdir", help="folder for index.html and the PNG files (created)")
    p.add_argument("--experiment", default=None, help="experiment (profile) name (default: the first with robustness scores)")
    p.add_argument("--source", default="tin-tc", help="corruption source of the robustness figures (default tin-tc)")
    p.set_defaults(func=_report)

    p = sub.add_parser("register", help="insert a profile's registry content and families (idempotent)")
    p.add_argument("profile", choices=("demo", "reproduce", "paper", "tiny"), help="the profile (populate/profiles.py)")
    p.add_argument("--experiment", help="name of the experiment its families form (default: the profile's name)")
    p.add_argument("--image-dataset", help="image dataset the families train on (default: the profile's image set)")
    p.add_argument("--neural-dataset", help="neural dataset the Monkey Predictor and MTL families learn from "
                                            "(default: the profile's virtual monkey)")
    p.set_defaults(func=_register)

    p = sub.add_parser("demo", help="run the demo on the embedded default")
    p.set_defaults(func=_demo, profile="demo")

    p = sub.add_parser("reproduce", help="Figure 3 at CPU scale (the reproduce profile: 3 seeds, a 5-ratio sweep), about an hour")
    p.set_defaults(func=_demo, profile="reproduce")
    return parser


def _report(args) -> int:
    from . import report

    return report.main(args)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    from .errors import explain

    try:
        if getattr(args, "activate", True):
            import schemas

            schemas.activate()  # bind every stage's tables to the configured database
        return args.func(args)
    except Exception as err:
        message = explain(err)
        if message is None:  # not the user's to fix: the traceback is the report
            raise
        if args.verbose:
            traceback.print_exc()
        print(f"error: {message}", file=sys.stderr)
        return 2


