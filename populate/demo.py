"""The demo: the experiment's graph, as far as it is built, on the embedded default.

It runs on whatever database the environment names; with nothing configured that is the
embedded PostgreSQL under ./.pipeline. The content comes from the ``demo`` profile
(:mod:`populate.profiles`).
"""

from __future__ import annotations

import json
import os
import time

from . import profiles


def ensure_virtual_monkey(spec: dict) -> str:
    """Simulate and import the profile's virtual monkey unless it is there already."""
    from pipeline.recordings.virtual_monkey import simulate
    from schemas import recording

    from .ingest import ingest_recordings

    name = spec["name"]
    if recording.RecordingSet & {"recording_set": name}:
        print(f"virtual monkey {name!r}: already imported")
    else:
        started = time.monotonic()
        summary = ingest_recordings(simulate(spec["size"], seed=spec["seed"]), name)
        print(f"virtual monkey {name!r}: {summary['sessions']} sessions, {summary['units']} units, "
              f"{summary['images']} images ({time.monotonic() - started:.0f} s)")
    return name


def ensure_image_set(spec: dict) -> str:
    """Write the demo's TIN-layout folder and import it through the real importer, once."""
    from pipeline.images.demo_set import write_demo_set
    from schemas import connection, images

    from .ingest import ingest_tiny_imagenet

    name = spec["name"]
    if images.ImageDataset & {"image_dataset": name}:
        print(f"image set {name!r}: already imported")
        return name
    folder = connection.pipeline_home() / "demo-tiny-imagenet" / name  # one folder per set: two sets never share files
    if not (folder / "wnids.txt").exists():
        write_demo_set(folder, n_classes=spec["n_classes"], train_per_class=spec["train_per_class"],
                       val_per_class=spec["val_per_class"], seed=spec["seed"])
    summary = ingest_tiny_imagenet(folder, name, validation_fraction=spec.get("validation_fraction", 0.1))
    print(f"image set {name!r}: {summary['classes']} classes, {summary['train']} train / {summary['validation']} validation / "
          f"{summary['test']} test images, written in the Tiny ImageNet layout under {folder}")
    return name


def print_classifier_results(dataset: str) -> None:
    from schemas.classifier import Classifier, OracleStage2
    from schemas.mtl import MTLModel
    from schemas.registry import pairs_of

    rows = [("Baseline", r) for r in (Classifier & {"image_dataset": dataset} & pairs_of("baseline")).to_dicts(order_by="seed")]
    rows += [("Oracle stage 1", r) for r in (Classifier & {"image_dataset": dataset} & pairs_of("oracle_stage1")).to_dicts(order_by="seed")]
    rows += [("Oracle", r) for r in (OracleStage2 & {"image_dataset": dataset}).to_dicts(order_by="seed")]
    mtl = [(f"{MTLModel.family_of(r)} {r['output']['batch_ratio']}", r) for r in (MTLModel & {"image_dataset": dataset}).to_dicts(order_by="seed")]
    rows += sorted(mtl, key=lambda item: (item[0], item[1]["seed"]))
    if rows:
        from schemas.images import ImageDataset

        chance = 1 / (ImageDataset & {"image_dataset": dataset}).fetch1("n_classes")
        print(f"\nClean accuracy on image set {dataset!r} (chance: {chance:.2f}), epochs trained and why training stopped:")
    for family, row in rows:
        print(f"  {family:20} seed {row['seed']}: validation {row['validation_accuracy']:.3f}, test {row['test_accuracy']:.3f}"
              f"  {_stopped(row['output'])}")


def _stopped(output: dict) -> str:
    return output.get("stop_reason") or f"{output.get('epochs_run', '?')} epochs"


def print_neural_results(dataset: str) -> None:
    from schemas.neural import NeuralEvaluation, NeuralModel
    from schemas.predictor import MonkeyPredictor
    from schemas.responses import OracleReadout

    rows = (NeuralModel * NeuralEvaluation & {"neural_dataset": dataset}).to_dicts(order_by=("kind", "seed"))
    if not rows:
        return
    print("\nNeural models on the virtual monkey's test repeats (Monkey Predictor, Oracle readout, MTL heads):")
    for row in rows:
        ceiling = f", fraction of ceiling {row['fraction_of_ceiling']:.2f}" if row["fraction_of_ceiling"] is not None else ""
        print(f"  {row['kind']:17} seed {row['seed']}: test correlation {row['test_corr']:.3f}, FEVe {row['fev_e']:.3f}{ceiling}")
    for kind, table in (("Monkey Predictor", MonkeyPredictor), ("Oracle readout", OracleReadout)):
        for row in (table & {"neural_dataset": dataset}).to_dicts(order_by="seed"):
            print(f"  {kind} seed {row['seed']} trained: {_stopped(row['output'])}")


#: most worker processes the demo starts: its graph has at most a few independent jobs per stage
MAX_DEMO_PROCESSES = 4


def demo_processes(cpus: int | None = None) -> int:
    """One worker process per core, up to ``MAX_DEMO_PROCESSES`` (``PIPELINE_DEMO_PROCESSES`` overrides).

    At the demo's 1/8 width a training step keeps two threads only partly busy: on a 2-core
    machine two one-thread workers trained 1.6x as many images per second as one two-thread
    worker (README, Performance)."""
    wanted = os.environ.get("PIPELINE_DEMO_PROCESSES")
    if wanted:
        if not wanted.isdigit() or int(wanted) < 1:
            raise ValueError(f"PIPELINE_DEMO_PROCESSES={wanted!r}: expected a whole number of at least 1")
        return int(wanted)
    from .worker import usable_cpus, visible_gpus

    if visible_gpus():  # one process on the GPU, as the worker runs there
        return 1
    return max(1, min(MAX_DEMO_PROCESSES, cpus or usable_cpus()))


def main(args) -> int:
    import schemas
    from schemas import connection

    from . import jobs
    from .worker import collect_store_garbage, run_cpu_pool, threads_per_process

    started = time.monotonic()
    name = getattr(args, "profile", "demo")
    spec = profiles.profile(name)
    print(f"database: {connection.describe()}")
    print(f"store:    {connection.describe_store()}")
    timing = {}

    def timed(name, fn, *a, **kw):
        t = time.monotonic()
        value = fn(*a, **kw)
        timing[name] = round(time.monotonic() - t, 1)
        return value

    dataset = timed("virtual monkey (simulate and import)", ensure_virtual_monkey, spec["virtual_monkey"])
    image_set = timed("image set (write and import)", ensure_image_set, spec["image_set"])
    entries = timed("register profile", profiles.register, name)
    print(f"registry: {json.dumps(entries)}")
    # gc without a grace period only over the demo's own local store; a store named by
    # DJ_STORES may have another process's uploads in flight, so it keeps the default hour
    own_store = not os.environ.get("DJ_STORES")
    jobs.declare_jobs_tables(jobs.auto_tables())  # once, before the workers start together
    processes = demo_processes()
    print(f"worker: {processes} process(es), {threads_per_process(processes)} torch thread(s) each")
    summary = timed("worker (all tables)", run_cpu_pool, ["--measure-arithmetic", "--poll", "2"], processes)
    if not summary["stopped"]:
        summary["gc"] = collect_store_garbage(schemas.load_all(), 0 if own_store else 3600.0)
    print(f"worker: {json.dumps({k: v for k, v in summary.items() if k != 'children'}, default=str)}")
    for row in jobs.status():
        print(f"  {row['table']:32} done {row['done']:>4}  pending {row['pending']:>4}  errors {row['errors']:>3}")
    print_neural_results(dataset)
    print_classifier_results(image_set)
    print_robustness(name)
    from . import report

    outdir = connection.pipeline_home() / ("report" if name == "demo" else f"report-{name}")
    written = timed("report", report.write_report, outdir, experiment=name)
    total = time.monotonic() - started
    write_timing(timing, summary, total, name)
    print(f"\n{name} finished in {total:.0f} s.")
    print(
        f"Report (figures 3A-C, 5, 7 and the neural table): {written['index']}\n"
        "Query the results from Python:\n"
        "  from schemas.robustness import Robustness\n"
        f"  (Robustness & {{'experiment': {name!r}}}).to_pandas()\n"
        "or in SQL (see README, 'SQL over the results'), or see every table's state with:\n"
        "  .venv/bin/python -m populate status"
    )
    return 0


def write_timing(timing: dict, summary: dict, total: float, name: str = "demo") -> None:
    """Print the wall time per stage and keep it in $PIPELINE_HOME/<profile>-timing.json (bench/ reads the demo's)."""
    import platform

    from schemas import connection

    stages = summary.get("seconds", {})
    arithmetic = summary.get("arithmetic_s", {})
    print(f"\nWall time by stage (s); per table the seconds of its {summary.get('processes', 1)} worker process(es) "
          "added up, and their share in model passes and optimiser steps:")
    for step, seconds in timing.items():
        print(f"  {step:40} {seconds:7.1f}")
        if step.startswith("worker"):
            for table, s in sorted(stages.items(), key=lambda item: -item[1]):
                share = f"  arithmetic {arithmetic[table] / s:4.0%}" if s and table in arithmetic else ""
                print(f"    {table:38} {s:7.1f}  ({summary['done'].get(table, 0)} jobs){share}")
    record = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": f"{platform.node()} {platform.machine()}",
              "cpus": os.cpu_count(), "worker_processes": summary.get("processes", 1), "total_s": round(total, 1), "steps_s": timing, "tables_s": stages,
              "jobs": summary.get("done", {}), "arithmetic_s": arithmetic}
    (connection.pipeline_home() / f"{name}-timing.json").write_text(json.dumps(record, indent=2))


def print_robustness(experiment: str) -> None:
    from schemas.robustness import Robustness, RobustnessRegression

    rows = (Robustness & {"experiment": experiment}).to_dicts(order_by="family")
    if not rows:
        return
    print(f"\nRobustness on TIN-TC against the Baseline family ({experiment} profile; 95% bootstrap intervals):")
    for r in rows:
        print(f"  {r['family']:26} {r['score']:.3f} [{r['score_low']:.3f}, {r['score_high']:.3f}]  "
              f"clean {r['clean_accuracy']:.3f}  corrupted {r['mean_corruption_accuracy']:.3f}  models {r['n_models']}")
    for r in (RobustnessRegression & {"experiment": experiment}).to_dicts(order_by="family"):
        term = (RobustnessRegression.Term & {k: r[k] for k in RobustnessRegression.primary_key} & {"term": "neural"}).fetch1()
        print(f"  regression {r['family']}: b_neural {term['coefficient']:.3f} (p {term['p']:.3g}), n {r['n_models']}")
