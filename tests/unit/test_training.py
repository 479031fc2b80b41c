"""The resumable trainer: checkpoint policy, stop requests, and resume equals uninterrupted."""

import numpy as np
import pytest
import torch

from pipeline.data.synthetic import gaussian_clusters
from pipeline.models.mlp import build_mlp
from pipeline.training import DirectoryCheckpointer, MemoryCheckpointer, TrainingInterrupted, train_classifier

CONFIG = dict(max_epochs=6, lr=0.05, momentum=0.9, batch_size=64, patience=1, lr_decay_factor=0.5)


def _setup(seed=3):
    data = gaussian_clusters(seed=seed, n_train=600, n_validation=200, n_features=16, n_classes=3)
    return data, build_mlp(data, seed=seed, hidden=[32])


def test_training_learns_the_task():
    data, model = _setup()
    result = train_classifier(model, data, seed=3, **CONFIG)
    assert result.score > 0.8  # clusters are separable; chance is 1/3
    assert [h["epoch"] for h in result.output["history"]] == list(range(1, 7))
    assert result.output["validation_accuracy"] == result.score
    assert result.output["resumed_from_epoch"] == 0


def test_stop_request_saves_then_raises_and_resume_matches_an_uninterrupted_run():
    data, model = _setup()
    reference = train_classifier(model, data, seed=3, **CONFIG)

    stop_after = {"epochs_seen": 0}

    def stop_requested():
        stop_after["epochs_seen"] += 1
        return stop_after["epochs_seen"] == 3  # asked to stop during epoch 3

    checkpoint = MemoryCheckpointer(every_epochs=None, every_minutes=60, stop_requested=stop_requested)
    data, model = _setup()
    with pytest.raises(TrainingInterrupted) as interrupted:
        train_classifier(model, data, seed=3, checkpoint=checkpoint, **CONFIG)
    assert interrupted.value.epoch == 3 and checkpoint.epoch == 3

    resumed_checkpoint = MemoryCheckpointer(every_epochs=1)
    resumed_checkpoint.data = checkpoint.data
    data, fresh_model = _setup()
    resumed = train_classifier(fresh_model, data, seed=3, checkpoint=resumed_checkpoint, **CONFIG)
    assert resumed.output["resumed_from_epoch"] == 3
    assert resumed_checkpoint.saved_epochs == [4, 5]  # the final epoch is stored as the result, not a checkpoint
    assert resumed.output["history"] == reference.output["history"]
    for name, tensor in reference.state_dict.items():
        torch.testing.assert_close(resumed.state_dict[name], tensor, rtol=0, atol=1e-6)


def test_checkpoint_every_n_epochs(tmp_path):
    data, model = _setup()
    checkpoint = DirectoryCheckpointer(tmp_path, every_epochs=2)
    train_classifier(model, data, seed=3, checkpoint=checkpoint, **CONFIG)
    assert checkpoint.saved_epochs == [2, 4]
    assert checkpoint.load()["epoch"] == 4
    assert not list(tmp_path.glob("*.tmp"))


def test_time_based_checkpoint_policy(monkeypatch):
    checkpoint = MemoryCheckpointer(every_epochs=None, every_minutes=1)
    clock = {"t": 1000.0}
    monkeypatch.setattr("pipeline.training.checkpoint.time.monotonic", lambda: clock["t"])
    checkpoint._last_save = clock["t"]
    clock["t"] += 30
    assert not checkpoint.due(1)
    clock["t"] += 31
    assert checkpoint.due(2)


def test_a_checkpointer_needs_a_policy():
    with pytest.raises(ValueError):
        MemoryCheckpointer(every_epochs=None, every_minutes=None)


def test_checkpoints_load_as_data_only(tmp_path):
    checkpoint = DirectoryCheckpointer(tmp_path)
    checkpoint.save(1, {"epoch": 1, "weights": torch.ones(2)})
    assert torch.equal(checkpoint.load()["weights"], torch.ones(2))


def test_a_checkpoint_restores_every_random_stream():
    import random

    from pipeline.training.checkpoint import MemoryCheckpointer
    from pipeline.training.loop import ResumableLoop

    def draws():
        return (torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)])

    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    saver = MemoryCheckpointer(every_epochs=1)
    loop = ResumableLoop(saver, max_epochs=3, desc="rng")
    loop.end_epoch(1, lambda: {})
    expected = draws()
    torch.manual_seed(99), np.random.seed(99), random.seed(99)  # anything in between
    again = MemoryCheckpointer(every_epochs=1)
    again.data = saver.data
    resumed = ResumableLoop(again, max_epochs=3, desc="rng")
    resumed.restore_rng()
    assert draws() == expected


def test_a_checkpoint_of_another_config_or_code_version_is_refused():
    from pipeline.training.checkpoint import CheckpointMismatch, MemoryCheckpointer

    mine = {"config_hash": "a" * 32, "code_version": "c1"}
    saver = MemoryCheckpointer(every_epochs=1, identity=mine)
    saver.save(2, {"epoch": 2})
    same = MemoryCheckpointer(every_epochs=1, identity=mine)
    same.data = saver.data
    assert same.load()["epoch"] == 2
    for other in ({**mine, "code_version": "c2"}, {**mine, "config_hash": "b" * 32}):
        reader = MemoryCheckpointer(every_epochs=1, identity=other)
        reader.data = saver.data
        with pytest.raises(CheckpointMismatch, match="not resumed"):
            reader.load()
    anonymous = MemoryCheckpointer(every_epochs=1)
    anonymous.save(1, {"epoch": 1})
    strict = MemoryCheckpointer(every_epochs=1, identity=mine)
    strict.data = anonymous.data
    with pytest.raises(CheckpointMismatch, match="no identity"):
        strict.load()
