"""Named registry content: what the ``demo`` and ``paper`` profiles train.

This is the one place where profiles are defined. Each returns the registry entries it
added, so callers can restrict queries to them.
"""

from __future__ import annotations

PROFILES = ("demo", "paper")


def register(profile: str) -> dict:
    if profile not in PROFILES:
        raise KeyError(f"unknown profile {profile!r}; profiles are {PROFILES}")
    from schemas.registry import DatasetConfig, ModelConfig, Seed, TrainerConfig

    seeds = [1, 2] if profile == "demo" else [1, 2, 3, 4, 5]
    Seed.insert([(s,) for s in seeds], skip_duplicates=True)
    dataset = DatasetConfig().add_entry(
        "pipeline.data.synthetic.gaussian_clusters",
        {"n_train": 2000, "n_validation": 500, "n_features": 32, "n_classes": 4},
        comment=f"{profile}: synthetic clusters (smoke check of the training path)",
    )
    model = ModelConfig().add_entry("pipeline.models.mlp.build_mlp", {"hidden": [64]}, comment=f"{profile}: MLP")
    trainer = TrainerConfig().add_entry(
        "pipeline.training.train_classifier",
        {"epochs": 5, "lr": 0.05, "batch_size": 128},
        comment=f"{profile}: SGD",
    )
    return {"dataset": dataset, "model": model, "trainer": trainer, "seeds": seeds}
