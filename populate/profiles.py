"""Named registry content: what the ``demo`` and ``paper`` profiles train.

This is the one place where profiles are defined. ``demo`` is sized for a 2-core CPU in
minutes; ``paper`` follows the paper's settings for a GPU fleet.
"""

from __future__ import annotations

PROFILES = {
    "demo": {
        "seeds": [1, 2],
        "virtual_monkey": {"name": "virtual-demo", "size": "demo", "seed": 0},
        "smoke": {
            "dataset": {"n_train": 2000, "n_validation": 500, "n_features": 32, "n_classes": 4},
            "model": {"hidden": [64]},
            "trainer": {"epochs": 5, "lr": 0.05, "batch_size": 128},
        },
        "predictor": {
            "model": {"width": 0.125, "gauss_type": "isotropic"},
            "trainer": {"max_epochs": 8, "lr": 3e-3, "batch_size": 64},
        },
    },
    "paper": {
        "seeds": [1, 2, 3, 4, 5],
        "virtual_monkey": {"name": "virtual-paper", "size": "paper", "seed": 0},
        "smoke": None,
        "predictor": {
            # public code: Adam lr 5e-4, weight decay 5e-4, lr reduced on plateau, 5 decays
            "model": {"width": 1.0, "gauss_type": "full"},
            "trainer": {"max_epochs": 200, "lr": 5e-4, "weight_decay": 5e-4, "batch_size": 128,
                        "lr_decay_factor": 0.3, "patience": 5, "tolerance": 1e-4, "max_lr_decays": 5},
        },
    },
}

PREDICTOR_MODEL = "pipeline.models.predictor.build_monkey_predictor"
PREDICTOR_TRAINER = "pipeline.training.neural.train_neural_predictor"


def profile(name: str) -> dict:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; profiles are {sorted(PROFILES)}") from None


def register(name: str) -> dict:
    """Insert the profile's registry entries (idempotent) and return their keys."""
    from schemas.registry import DatasetConfig, ModelConfig, Seed, TrainerConfig

    spec = profile(name)
    Seed.insert([(s,) for s in spec["seeds"]], skip_duplicates=True)
    entries = {"seeds": spec["seeds"]}
    if spec["smoke"]:
        entries["smoke"] = {
            **DatasetConfig().add_entry("pipeline.data.synthetic.gaussian_clusters", spec["smoke"]["dataset"],
                                        comment=f"{name}: synthetic clusters (smoke check of the training path)"),
            **ModelConfig().add_entry("pipeline.models.mlp.build_mlp", spec["smoke"]["model"], comment=f"{name}: MLP"),
            **TrainerConfig().add_entry("pipeline.training.train_classifier", spec["smoke"]["trainer"], comment=f"{name}: SGD"),
        }
    entries["predictor"] = {
        **ModelConfig().add_entry(PREDICTOR_MODEL, spec["predictor"]["model"], comment=f"{name}: Monkey Predictor"),
        **TrainerConfig().add_entry(PREDICTOR_TRAINER, spec["predictor"]["trainer"], comment=f"{name}: Monkey Predictor"),
    }
    return entries
