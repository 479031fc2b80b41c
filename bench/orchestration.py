"""Populate-driven training against a direct call of the same trainer, and jobs per second
of trivial makes with one and with two worker processes, in one run.

The first ratio is the overhead of the database layer (job reservation, configuration
fetch, checkpoint writes to the store, final insert) on a small job, under the default
checkpoint policy and, side by side, with a checkpoint after every epoch; the second measures
the jobs machinery alone (reserve, make, insert, complete). Run it with
``.venv/bin/python bench/orchestration.py``; it uses the configured database (the
embedded default when nothing is set) under its own schema prefix and drops it after.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# always a prefix of its own, never the operator's PIPELINE_PREFIX: the benchmark drops its
# schemas at the end (its worker processes inherit the parent's through PIPELINE_BENCH_PREFIX)
os.environ["PIPELINE_PREFIX"] = os.environ.setdefault("PIPELINE_BENCH_PREFIX", f"bench{os.getpid()}_")

DATA = {"n_train": 4000, "n_validation": 500, "n_features": 32, "n_classes": 4}
MODEL = {"hidden": [64]}
TRAINER = {"max_epochs": 5, "lr": 0.05, "momentum": 0.9, "batch_size": 128}
SEEDS = [1, 2, 3]
TRIVIAL_JOBS = 600


def trivial_schema():
    """A Lookup of numbers and a Computed table whose make only squares them."""
    import datajoint as dj

    from schemas.connection import activate_stage, make_schema

    schema = make_schema("bench_trivial")

    @schema
    class Number(dj.Lookup):
        definition = """
        # inputs of the trivial jobs
        n : int32                       # a number
        """
        contents = [(i,) for i in range(TRIVIAL_JOBS)]

    @schema
    class Square(dj.Computed):
        definition = """
        # a trivial make: one short insert per job
        -> Number
        ---
        square : int64                  # n squared
        """

        def make(self, key):
            self.insert1({**key, "square": key["n"] ** 2})

    activate_stage("bench_trivial")
    return schema, Number, Square


def trivial_worker(go_file: str) -> None:
    """One worker process: connect and declare, wait for the start signal, populate, report."""
    _, _, square = trivial_schema()
    print("ready", flush=True)
    while not Path(go_file).exists():
        time.sleep(0.01)
    start = time.time()
    result = square.populate(reserve_jobs=True)
    print(json.dumps({"start": start, "end": time.time(), "done": result["success_count"]}), flush=True)


def jobs_per_second(workers: int) -> dict:
    """Trivial jobs per second with ``workers`` processes sharing the jobs table."""
    schema, _, square = trivial_schema()
    (square & {}).delete_quick()
    square.jobs.delete_quick()
    with tempfile.TemporaryDirectory() as tmp:
        go = str(Path(tmp) / "go")
        procs = [subprocess.Popen([sys.executable, __file__, "--trivial-worker", go], stdout=subprocess.PIPE, text=True)
                 for _ in range(workers)]
        for proc in procs:  # imports and connections happen before the clock starts
            assert proc.stdout.readline().strip() == "ready"
        Path(go).touch()
        reports = [json.loads(proc.communicate(timeout=600)[0].strip().splitlines()[-1]) for proc in procs]
    elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    done = sum(r["done"] for r in reports)
    assert done == TRIVIAL_JOBS == len(square()), (done, len(square()))
    return {"workers": workers, "jobs": done, "seconds": round(elapsed, 2), "jobs_per_s": round(done / elapsed, 1),
            "jobs_per_worker": [r["done"] for r in reports]}


class PhaseClock:
    """Seconds and calls of wrapped functions, by phase (inclusive of what they call)."""

    def __init__(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._patched: list[tuple[object, str, object]] = []

    def wrap(self, owner, name: str, phase: str) -> None:
        original = owner.__dict__[name]  # the defining class or module: restored as it was
        function = original.__func__ if isinstance(original, (staticmethod, classmethod)) else original

        @functools.wraps(function)  # the registry resolves the trainer by its module and name
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[phase] += time.perf_counter() - start
                self.calls[phase] += 1

        setattr(owner, name, type(original)(timed) if isinstance(original, (staticmethod, classmethod)) else timed)
        self._patched.append((owner, name, original))

    def restore(self) -> None:
        for owner, name, original in reversed(self._patched):
            setattr(owner, name, original)
        self._patched.clear()


def instrument(clock: PhaseClock) -> None:
    """Time each part of a populate-driven training job (bench item: overhead by part)."""
    import datajoint.jobs
    import pipeline.training
    from pipeline.training import checkpoint
    from schemas import trained_model

    clock.wrap(datajoint.jobs.Job, "refresh", "job list")
    clock.wrap(datajoint.jobs.Job, "reserve", "reservation")
    clock.wrap(datajoint.jobs.Job, "complete", "completion")
    clock.wrap(trained_model.TrainedModelBase, "make_fetch", "configuration fetch (and its re-fetch in the insert's transaction)")
    clock.wrap(trained_model.TrainedModelBase, "training_data", "data load")
    clock.wrap(trained_model.TrainedModelBase, "build_model", "model build")
    clock.wrap(checkpoint.Checkpointer, "load", "checkpoint read (resume check)")
    clock.wrap(checkpoint.Checkpointer, "save", "checkpoint writes")
    clock.wrap(trained_model.TrainedModelBase, "make_compute", "make_compute")
    clock.wrap(trained_model.TrainedModelBase, "make_insert", "insert (row and weights to the store)")
    clock.wrap(pipeline.training, "train_classifier", "trainer")


def training_seconds(clock: PhaseClock) -> float:
    """What a direct call does too: the data, the model and the trainer's own work."""
    s = clock.seconds
    inside_trainer = s["checkpoint read (resume check)"] + s["checkpoint writes"]
    return s["data load"] + s["model build"] + s["trainer"] - inside_trainer


def breakdown(clock: PhaseClock, total_s: float, jobs: int) -> dict:
    """Milliseconds per job of each part that the direct call does not have (the job list is
    made once per populate call, for all its jobs: its share per job is listed). They add up
    to the populate's time minus the clocked training, the overhead measured in one run."""
    s = clock.seconds
    compute_rest = s["make_compute"] - s["trainer"] - s["data load"] - s["model build"]
    parts = {
        "job list (key source into the jobs table, once per populate call), share per job": s["job list"],
        "reservation": s["reservation"],
        "configuration fetch (and its re-fetch in the insert's transaction)":
            s["configuration fetch (and its re-fetch in the insert's transaction)"],
        "checkpoint read (resume check)": s["checkpoint read (resume check)"],
        "checkpoint writes": s["checkpoint writes"],
        "weights to a file, provenance": compute_rest,
        "insert (row and weights to the store)": s["insert (row and weights to the store)"],
        "completion": s["completion"],
    }
    parts["DataJoint's populate loop and transaction (the rest)"] = total_s - sum(parts.values()) - training_seconds(clock)
    return {name: round(1000 * seconds / jobs, 1) for name, seconds in parts.items()}


def direct() -> float:
    from pipeline.data.synthetic import gaussian_clusters
    from pipeline.models.mlp import build_mlp
    from pipeline.training import train_classifier

    start = time.perf_counter()
    for seed in SEEDS:
        data = gaussian_clusters(seed=seed, **DATA)
        train_classifier(build_mlp(data, seed=seed, **MODEL), data, seed=seed, **TRAINER)
    return time.perf_counter() - start


#: the checkpoint policies compared side by side: PIPELINE_CHECKPOINT_SECONDS (None: unset)
POLICIES = {"default (30 s between checkpoints)": None, "every epoch (PIPELINE_CHECKPOINT_SECONDS=0)": "0"}


def populated(checkpoint_seconds: str | None) -> tuple[float, PhaseClock, float]:
    """Populate the three jobs under one checkpoint policy: seconds, clock by part, catalog sync."""
    previous = os.environ.pop("PIPELINE_CHECKPOINT_SECONDS", None)
    if checkpoint_seconds is not None:
        os.environ["PIPELINE_CHECKPOINT_SECONDS"] = checkpoint_seconds
    try:
        return _populated()
    finally:
        os.environ.pop("PIPELINE_CHECKPOINT_SECONDS", None)
        if previous is not None:
            os.environ["PIPELINE_CHECKPOINT_SECONDS"] = previous


def _populated() -> tuple[float, PhaseClock, float]:
    import schemas
    from schemas.registry import DatasetConfig, ModelConfig, Seed, TrainerConfig
    from schemas.training import TrainedModel

    modules = schemas.load_all()
    from schemas import storage

    storage.ensure_store_owner()  # a process checks once; the previous round removed its marker
    try:
        Seed.insert([(s,) for s in SEEDS], skip_duplicates=True)
        DatasetConfig().add_entry("pipeline.data.synthetic.gaussian_clusters", DATA)
        ModelConfig().add_entry("pipeline.models.mlp.build_mlp", MODEL)
        TrainerConfig().add_entry("pipeline.training.train_classifier", TRAINER)
        TrainedModel.jobs  # noqa: B018 (declares the jobs table, once per database: a worker has it already)
        clock = PhaseClock()
        try:
            instrument(clock)  # inside: a failure part-way still restores what it patched
            start = time.perf_counter()
            TrainedModel.populate(reserve_jobs=True)
            elapsed = time.perf_counter() - start
        finally:
            clock.restore()
        from schemas import catalog

        catalog.sync_all()  # the catalogs' first sync adds their rows; the next are a worker's per-pass cost
        start = time.perf_counter()
        for _ in range(5):
            catalog.sync_all()
        sync_s = (time.perf_counter() - start) / 5
        return elapsed, clock, sync_s
    finally:
        from schemas import storage

        # the bench's own prefix: its files, its marker and its schemas go, in that order
        TrainedModel.delete_quick()
        storage.collect_garbage(storage.pipeline_schemas(modules), min_age_s=0)
        storage.remove_own_marker()
        for module in reversed(modules):
            module.schema.drop(prompt=False)


def main() -> dict:
    direct()  # warm-up: imports, thread pools
    # Each policy three times, alternated. The overhead is the populate's time minus the
    # training it clocked inside (one run, so the VM's speed changes between runs cancel);
    # "populate minus direct" (a direct call just before) is the cross-check, whose run-to-run
    # noise on this VM is as large as the overhead. The run with the median overhead is kept.
    policy_runs = defaultdict(list)
    for _ in range(3):
        for policy, seconds in POLICIES.items():
            t_direct = direct()
            t_populate, clock, sync_s = populated(seconds)
            overhead = t_populate - training_seconds(clock)
            policy_runs[policy].append((overhead, t_direct, t_populate, clock, sync_s))
    policies = {}
    for policy, runs in policy_runs.items():
        overhead, t_direct, t_populate, clock, sync_s = sorted(runs, key=lambda run: run[0])[len(runs) // 2]
        policies[policy] = {
            "direct_s": round(t_direct, 3),
            "populate_s": round(t_populate, 3),
            "overhead_per_job_s": round(overhead / len(SEEDS), 4),
            "overhead_per_job_s_runs": [round(run[0] / len(SEEDS), 4) for run in runs],
            "populate_minus_direct_per_job_s": round((t_populate - t_direct) / len(SEEDS), 4),
            "checkpoint_writes_per_job": clock.calls["checkpoint writes"] / len(SEEDS),
            "overhead_per_job_ms_by_part": breakdown(clock, t_populate, len(SEEDS)),
            "catalog_sync_per_worker_pass_ms": round(1000 * sync_s, 1),
        }
    default = policies[next(iter(POLICIES))]
    schema = trivial_schema()[0]
    try:
        # alternated and repeated, best of three each: one pass lasts about a second, and this
        # VM's speed moves by up to 2x between seconds (measured: 182-421 jobs/s for one worker)
        runs = [jobs_per_second(workers) for _ in range(3) for workers in (1, 2)]
        scaling = [max((r for r in runs if r["workers"] == w), key=lambda r: r["jobs_per_s"]) for w in (1, 2)]
    finally:
        schema.drop(prompt=False)
        from schemas import storage

        if storage.schema.is_activated() and storage.schema.exists:  # re-made by the worker processes' owner check
            storage.remove_own_marker()
            storage.schema.drop(prompt=False)
    result = {
        "jobs": len(SEEDS),
        "epochs_per_job": TRAINER["max_epochs"],
        # the goal's row: the default policy (a worker's behaviour when nothing is set)
        "overhead_per_job_s": default["overhead_per_job_s"],
        "direct_s": default["direct_s"],
        "populate_s": default["populate_s"],
        "overhead_per_job_ms_by_part": default["overhead_per_job_ms_by_part"],
        "catalog_sync_per_worker_pass_ms": default["catalog_sync_per_worker_pass_ms"],
        "checkpoint_policies": policies,
        "trivial_jobs": scaling,
        "two_workers_over_one": round(scaling[1]["jobs_per_s"] / scaling[0]["jobs_per_s"], 2),
    }
    print(json.dumps({"orchestration": result}))
    return result


if __name__ == "__main__":
    if sys.argv[1:2] == ["--trivial-worker"]:
        trivial_worker(sys.argv[2])
    else:
        main()
