"""Populate-driven training against a direct call of the same trainer, in one run.

The ratio is the overhead of the database layer (job reservation, configuration fetch,
checkpoint writes to the store, final insert) on a small job. Run it with
``.venv/bin/python bench/orchestration.py``; it uses the configured database (the
embedded default when nothing is set) under its own schema prefix and drops it after.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("PIPELINE_PREFIX", f"bench{os.getpid()}_")

DATA = {"n_train": 4000, "n_validation": 500, "n_features": 32, "n_classes": 4}
MODEL = {"hidden": [64]}
TRAINER = {"max_epochs": 5, "lr": 0.05, "momentum": 0.9, "batch_size": 128}
SEEDS = [1, 2, 3]


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
        for module in reversed(modules):
            module.schema.drop(prompt=False)


def main() -> dict:
    direct()  # warm-up: imports, thread pools
    t_direct = direct()
    t_populate = populated()
    result = {
        "jobs": len(SEEDS),
        "direct_s": round(t_direct, 3),
        "populate_s": round(t_populate, 3),
        "populate_over_direct": round(t_populate / t_direct, 3),
        "overhead_per_job_s": round((t_populate - t_direct) / len(SEEDS), 3),
    }
    print(json.dumps({"orchestration": result}))
    return result


if __name__ == "__main__":
    main()
