"""TrainedModel: a real (small) training job through populate, in this process."""

import pytest
import torch

from pipeline.training.classification import accuracy

from .helpers import register


@pytest.mark.portable
def test_populate_trains_every_combination_and_records_provenance(clean):
    from schemas.training import TrainedModel, TrainingCheckpoint

    register(seeds=[1, 2], epochs=3)
    result = TrainedModel.populate(reserve_jobs=True)
    assert result["success_count"] == 2 and result["error_list"] == []
    rows = TrainedModel().to_dicts()
    assert sorted(r["seed"] for r in rows) == [1, 2]
    for row in rows:
        assert row["output"]["metric"] == "validation_accuracy"
        assert len(row["output"]["history"]) == 3
        assert 0 <= row["output"]["validation_accuracy"] <= 1
        prov = row["provenance"]
        assert prov["packages"]["torch"].startswith("2.")
        assert prov["device"].startswith(("cpu", "cuda"))
        assert prov["wall_time_s"] > 0
        assert "git_commit" in prov
        assert prov["checkpoints_saved"] == [1, 2]
    # finished jobs leave no checkpoint rows and no jobs behind
    assert len(TrainingCheckpoint()) == 0
    assert TrainedModel.jobs.progress()["total"] == 0


@pytest.mark.portable
def test_checkpoints_wait_for_the_interval(clean, monkeypatch):
    """By default a job saves after the first epoch that ends 30 s after the last save, so a
    job of short epochs writes none (the other tests save after every epoch: interval 0)."""
    from schemas import settings
    from schemas.training import TrainedModel

    monkeypatch.delenv("PIPELINE_CHECKPOINT_SECONDS")
    assert settings.checkpoint_seconds() == settings.DEFAULT_CHECKPOINT_SECONDS == 30
    register(seeds=[1], epochs=3)
    assert TrainedModel.populate(reserve_jobs=True)["success_count"] == 1
    assert TrainedModel().fetch1("provenance")["checkpoints_saved"] == []
    for bad in ("-1", "soon", "nan", "inf"):
        monkeypatch.setenv("PIPELINE_CHECKPOINT_SECONDS", bad)
        with pytest.raises(settings.ConfigurationError, match=f"PIPELINE_CHECKPOINT_SECONDS='{bad}'"):
            settings.checkpoint_seconds()


@pytest.mark.portable
def test_stored_weights_reproduce_the_stored_score(clean):
    from schemas.training import TrainedModel

    register(seeds=[3], epochs=2)
    TrainedModel.populate()
    key = TrainedModel().keys()[0]
    model = TrainedModel().load_model(key, device="cpu")
    data = TrainedModel().load_data(key, seed=3)
    x, y = data["validation"]
    with torch.no_grad():
        assert abs(accuracy(model, x, y, 64) - (TrainedModel & key).fetch1("score")) < 1e-9


@pytest.mark.backend_specific
def test_failing_make_leaves_no_row_and_records_the_error(clean):
    from schemas.registry import DatasetConfig, ModelConfig, Seed, TrainerConfig
    from schemas.training import TrainedModel, TrainingCheckpoint

    Seed.insert1((1,), skip_duplicates=True)
    DatasetConfig().add_entry("pipeline.data.synthetic.gaussian_clusters", {"n_classes": 1})  # invalid at run time
    ModelConfig().add_entry("pipeline.models.mlp.build_mlp", {})
    TrainerConfig().add_entry("pipeline.training.train_classifier", {"max_epochs": 1})
    result = TrainedModel.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 0 and len(result["error_list"]) == 1
    assert "n_classes=1" in result["error_list"][0][1]
    assert len(TrainedModel()) == 0 and len(TrainingCheckpoint()) == 0
    assert TrainedModel.jobs.progress()["error"] == 1


@pytest.mark.backend_specific
def test_a_checkpoint_saved_for_other_code_is_refused_and_nothing_is_stored(clean, tmp_path):
    from pipeline.training.checkpoint import serialise
    from schemas.training import TrainedModel, TrainingCheckpoint

    key = {**register(seeds=[4], epochs=3), "seed": 4}
    stale = tmp_path / "checkpoint.pt"
    stale.write_bytes(serialise({"epoch": 1, "identity": {"config_hash": "0" * 32, "code_version": "an old commit"}}))
    TrainingCheckpoint.insert1({**key, "epoch": 1, "state": str(stale)})
    result = TrainedModel.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 0 and "not resumed" in str(result["error_list"][0][1])
    assert len(TrainedModel()) == 0 and len(TrainingCheckpoint()) == 1  # the checkpoint is kept for the operator


@pytest.mark.backend_specific
def test_an_input_changed_between_fetch_and_insert_fails_the_job_and_inserts_nothing(clean, monkeypatch):
    """make_fetch returns what make_compute uses (the configurations): DataJoint fetches it
    again in make_insert's transaction and refuses a row computed from inputs that changed."""
    from schemas.registry import TrainerConfig
    from schemas.training import TrainedModel, TrainingCheckpoint

    entries = register(seeds=[1], epochs=1)
    compute = TrainedModel.make_compute

    def compute_then_edit_the_trainer(self, key, *fetched):
        result = compute(self, key, *fetched)
        # another client edits the trainer entry while this job computes
        trainer = {k: entries[k] for k in ("trainer_fn", "trainer_hash")}
        config = (TrainerConfig & trainer).fetch1("trainer_config")
        TrainerConfig.update1({**trainer, "trainer_config": {**config, "lr": 0.5}})
        return result

    monkeypatch.setattr(TrainedModel, "make_compute", compute_then_edit_the_trainer)
    result = TrainedModel.populate(reserve_jobs=True, suppress_errors=True)
    assert result["success_count"] == 0 and len(result["error_list"]) == 1
    assert "make_fetch" in result["error_list"][0][1] and "changed" in result["error_list"][0][1]
    assert len(TrainedModel()) == 0
    assert TrainedModel.jobs.progress()["error"] == 1
    # nothing of the job remains: its one epoch was its last, which saves no checkpoint
    assert len(TrainingCheckpoint()) == 0
