"""Populate-driven training against a direct call of the same trainer, and jobs per second
of trivial makes with one and with two worker processes, in one run.

The first ratio is the overhead of the database layer (job reservation, configuration
fetch, checkpoint writes to the store, final insert) on a small job; the second measures
the jobs machinery alone (reserve, make, insert, complete). Run it with
``.venv/bin/python bench/orchestration.py``; it uses the configured database (the
embedded default when nothing is set) under its own schema prefix and drops it after.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
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


def direct() -> float:
    from pipeline.data.synthetic import gaussian_clusters
    from pipeline.models.mlp import build_mlp
    from pipeline.training import train_classifier

    start = time.perf_counter()
    for seed in SEEDS:
        data = gaussian_clusters(seed=seed, **DATA)
        train_classifier(build_mlp(data, seed=seed, **MODEL), data, seed=seed, **TRAINER)
    return time.perf_counter() - start


def populated() -> float:
    import schemas
    from schemas.registry import DatasetConfig, ModelConfig, Seed, TrainerConfig
    from schemas.training import TrainedModel

    modules = schemas.load_all()
    try:
        Seed.insert([(s,) for s in SEEDS], skip_duplicates=True)
        DatasetConfig().add_entry("pipeline.data.synthetic.gaussian_clusters", DATA)
        ModelConfig().add_entry("pipeline.models.mlp.build_mlp", MODEL)
        TrainerConfig().add_entry("pipeline.training.train_classifier", TRAINER)
        start = time.perf_counter()
        TrainedModel.populate(reserve_jobs=True)
        return time.perf_counter() - start
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
    t_direct = direct()
    t_populate = populated()
    schema = trivial_schema()[0]
    try:
        scaling = [jobs_per_second(1), jobs_per_second(2)]
    finally:
        schema.drop(prompt=False)
        from schemas import storage

        if storage.schema.is_activated() and storage.schema.exists:  # re-made by the worker processes' owner check
            storage.remove_own_marker()
            storage.schema.drop(prompt=False)
    result = {
        "jobs": len(SEEDS),
        "direct_s": round(t_direct, 3),
        "populate_s": round(t_populate, 3),
        "populate_over_direct": round(t_populate / t_direct, 3),
        "overhead_per_job_s": round((t_populate - t_direct) / len(SEEDS), 3),
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
