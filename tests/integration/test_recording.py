"""Recordings on a real server: ingest (all or nothing), spike counts, datasets, the predictor."""

import pickle
import subprocess

import numpy as np
import pytest

from pipeline.recordings.published import safe_load, write_published
from pipeline.recordings.spike_counts import window_counts
from pipeline.recordings.virtual_monkey import Size, simulate

from .helpers import REPO

TINY = Size((5, 5), (1, 2), 90, 15, 12, (3, 3), 21.0)


@pytest.fixture(scope="module")
def tiny():
    return simulate(TINY, seed=3)


def _ingest(recordings, name):
    from populate.ingest import ingest_recordings

    return ingest_recordings(recordings, name)


def _row_counts():
    from schemas import recording

    tables = (recording.RecordingSet, recording.Monkey, recording.Session, recording.Session.Unit, recording.Stimuli,
              recording.Stimuli.Image, recording.Trial, recording.TrialSpikes, recording.VirtualTruth,
              recording.SpikeCount, recording.NeuralDataset)
    return {t.__name__: len(t()) for t in tables}


@pytest.mark.portable
def test_virtual_monkey_is_stored_with_units_absent_not_zero(clean, tiny):
    from schemas import recording

    summary = _ingest(tiny, "vm")
    assert summary["sessions"] == 3 and summary["units"] == 10
    for s in tiny.sessions:
        key = {"recording_set": "vm", "session_id": s.session_id}
        units = (recording.Session.Unit & key).to_arrays("unit_id").tolist()
        assert sorted(units) == sorted(s.unit_ids.tolist())  # only the recorded units
        assert len(recording.Trial & key) == len(s.trial_types)
        spikes = np.asarray((recording.TrialSpikes & key).fetch1("spikes"))
        assert np.array_equal(spikes, s.spikes)
        counts = (recording.SpikeCount & key & {"response_window": "40-160"}).fetch1()
        expected = window_counts(s.spikes, s.trial_images, (40, 160), 10, 0, 120)
        assert np.array_equal(np.asarray(counts["counts"]), expected["counts"])
        assert np.array_equal(np.asarray(counts["image_ids"]), expected["image_ids"])
    roles = (recording.Stimuli.Image & {"recording_set": "vm"}).to_arrays("role").tolist()
    assert roles.count("test") == 15


@pytest.mark.portable
def test_the_split_is_by_image_shared_by_sessions_and_seeded(clean, tiny):
    from schemas import recording

    _ingest(tiny, "vm")
    split = {r["image_id"]: r["split"] for r in (recording.NeuralDataset.Image & {"neural_dataset": "vm"}).to_dicts()}
    train_images = [i for i, role in zip(tiny.image_ids, tiny.image_roles) if role == "train"]
    assert sum(split[i] == "validation" for i in train_images) == round(0.2 * len(train_images))
    assert len(recording.NeuralDataset.Session & {"neural_dataset": "vm"}) == 3
    recording.NeuralDataset.create("vm-again", "vm")
    again = {r["image_id"]: r["split"] for r in (recording.NeuralDataset.Image & {"neural_dataset": "vm-again"}).to_dicts()}
    assert again == split
    data = recording.NeuralDataset().build({"neural_dataset": "vm"})
    ids = data["image_ids"].numpy()
    for session in data["sessions"].values():
        assert {split[int(i)] for i in ids[session["validation"][0].numpy()]} == {"validation"}


@pytest.mark.backend_specific
def test_a_second_import_under_the_same_name_is_refused(clean, tiny):
    from schemas.recording import IngestError

    _ingest(tiny, "vm")
    before = _row_counts()
    with pytest.raises(IngestError, match="exists already"):
        _ingest(tiny, "vm")
    assert _row_counts() == before


@pytest.mark.portable
def test_spikes_too_short_for_the_window_are_refused_before_anything_is_stored(clean):
    from schemas.recording import IngestError

    before = _row_counts()
    broken = simulate(TINY, seed=3)
    broken.sessions[-1].spikes = broken.sessions[-1].spikes[:, :, :5]  # valid shape, too few bins for the window
    with pytest.raises(IngestError, match=rf"session {broken.sessions[-1].session_id}, field spikes: .*needs bins"):
        _ingest(broken, "broken")
    assert _row_counts() == before


@pytest.mark.backend_specific
def test_an_import_failing_after_the_insert_is_undone(clean, tiny, monkeypatch):
    from schemas import recording

    def fail(*args, **kwargs):
        raise RuntimeError("simulated failure while defining the dataset")

    before = _row_counts()
    monkeypatch.setattr(recording.NeuralDataset, "_insert", fail)
    with pytest.raises(RuntimeError, match="simulated failure"):
        _ingest(tiny, "undone")
    assert _row_counts() == before


@pytest.mark.backend_specific
def test_an_import_is_one_unit_while_a_forever_worker_runs(clean, tiny, python, worker_env):
    from schemas import recording

    from .helpers import Lines

    worker = subprocess.Popen([python, "-m", "populate", "-v", "worker", "--quiet", "--forever", "--poll", "0.5",
                               "--tables", "SpikeCount"], cwd=REPO, env=worker_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    errors = Lines(worker.stderr)
    try:
        errors.wait_for("idle: no job ready")  # the worker has made a pass and is polling
        summary = _ingest(tiny, "vm")
        assert summary["neural_dataset"] == "vm"
        # the counts came with the import: there was never a session without them to take
        assert len(recording.SpikeCount & {"recording_set": "vm"}) == 3
        assert len(recording.SpikeCount.jobs) == 0
    finally:
        worker.terminate()
        out = worker.stdout.read()
        worker.wait(timeout=120)
    made = [line for line in out.splitlines() if line.startswith('{"worker_summary"')]
    assert made, errors.text()[-3000:]
    import json

    assert json.loads(made[0])["worker_summary"]["done"].get("SpikeCount", 0) == 0


@pytest.fixture(scope="module")
def demo_published(tmp_path_factory):
    """The demo's virtual monkey in the published layout, simulated once (15 s): its import
    is one transaction of a few seconds, long enough to be killed inside."""
    from pipeline.recordings.virtual_monkey import simulate

    return write_published(simulate("demo", seed=0), tmp_path_factory.mktemp("demo-monkey") / "published")


@pytest.mark.backend_specific
def test_a_killed_import_leaves_nothing_that_blocks_a_rerun(clean, demo_published, python, worker_env):
    import os
    import signal
    import time

    from schemas import recording

    command = [python, "-m", "populate", "ingest", "monkey", str(demo_published), "--name", "vk", "--ppd", "14"]
    for pause in (0.0, 0.3, 1.0):  # killed at several points of the import's transaction
        process = subprocess.Popen(command, cwd=REPO, env=worker_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = process.stdout.readline()  # "read ... sessions": the database work starts now
        assert line.startswith("read "), line + process.stderr.read()
        time.sleep(pause)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
        if recording.RecordingSet & {"recording_set": "vk"}:  # it had committed: then all of it is there
            assert recording.NeuralDataset & {"neural_dataset": "vk"}
            assert len(recording.SpikeCount & {"recording_set": "vk"}) == len(recording.Session & {"recording_set": "vk"})
            (recording.NeuralDataset & {"neural_dataset": "vk"}).delete()
            (recording.RecordingSet & {"recording_set": "vk"}).delete()
        assert not (recording.Session & {"recording_set": "vk"})
    out = _cli(python, worker_env, *command[3:])
    assert out.returncode == 0, out.stderr
    assert recording.NeuralDataset & {"neural_dataset": "vk"}


def _cli(python, env, *args):
    return subprocess.run([python, "-m", "populate", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.portable
def test_published_layout_imports_through_the_cli(clean, tiny, tmp_path, python, worker_env):
    from schemas import recording

    layout = write_published(tiny, tmp_path / "published")
    out = _cli(python, worker_env, "ingest", "monkey", str(layout), "--name", "real", "--ppd", "14")
    assert out.returncode == 0, out.stderr
    assert len(recording.Session & {"recording_set": "real"}) == 3
    assert (recording.RecordingSet & {"recording_set": "real"}).fetch1("source") == "monkey"
    assert len(recording.VirtualTruth & {"recording_set": "real"}) == 0


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: d.pop("unit_ids"), "missing field 'unit_ids'"),
        (lambda d: d.update(testing_image_ids=d["testing_image_ids"][:-2]), "'testing_responses' has"),
        (lambda d: d["training_responses"].__setitem__(0, np.nan) or d["testing_responses"].__setitem__(0, np.nan), "only NaN"),
        ("unsafe", "unsafe or invalid pickle"),
        ("crafted", "needs 8000000000000 bytes, the file holds 8"),
    ],
    ids=["missing-field", "shape-mismatch", "nan-only-unit", "unsafe-pickle", "crafted-array"],
)
@pytest.mark.portable
def test_bad_published_input_names_file_and_field_and_leaves_no_rows(clean, tiny, tmp_path, python, worker_env, damage, message):
    layout = write_published(tiny, tmp_path / "published")
    victim = sorted((layout / "neuronal_data").glob("*.pickle"))[-1]
    if damage == "unsafe":
        victim.write_bytes(pickle.dumps(subprocess.Popen))  # a class reference: code, not data
    elif damage == "crafted":  # an array whose shape claims 8 TB over 8 bytes of data
        from numpy._core.multiarray import _reconstruct

        class Lie:
            def __reduce__(self):
                return _reconstruct, (np.ndarray, (0,), b"b"), (1, (10**12,), np.dtype("f8"), False, b"\0" * 8)

        data = safe_load(victim)
        data["training_responses"] = Lie()
        victim.write_bytes(pickle.dumps(data, protocol=2))
    else:
        data = safe_load(victim)
        damage(data)
        victim.write_bytes(pickle.dumps(data))
    before = _row_counts()
    out = _cli(python, worker_env, "ingest", "monkey", str(layout), "--name", "bad", "--ppd", "14")
    assert out.returncode == 2
    assert victim.name in out.stderr and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert _row_counts() == before


@pytest.mark.portable
def test_tiny_predictor_trains_and_is_evaluated_through_populate(clean, tiny):
    from schemas.neural import NeuralEvaluation
    from schemas.predictor import MonkeyPredictor, PredictorCheckpoint
    from schemas.recording import Session
    from schemas.registry import ModelConfig, Seed, TrainerConfig

    _ingest(tiny, "vm")
    Seed.insert1((1,), skip_duplicates=True)
    ModelConfig().add_entry("pipeline.models.predictor.build_monkey_predictor", {"width": 0.125, "gauss_type": "isotropic"})
    TrainerConfig().add_entry("pipeline.training.neural.train_neural_predictor", {"max_epochs": 2, "lr": 3e-3, "batch_size": 64})
    ModelConfig().add_entry("pipeline.models.mlp.build_mlp", {})  # another table's entry: never paired with the predictor
    assert len(MonkeyPredictor.key_source) == 1
    assert MonkeyPredictor.populate(reserve_jobs=True)["success_count"] == 1
    assert len(PredictorCheckpoint()) == 0
    row = MonkeyPredictor().to_dicts()[0]
    assert row["output"]["metric"] == "validation_correlation" and row["output"]["epochs_run"] == 2
    assert NeuralEvaluation.populate(reserve_jobs=True)["success_count"] == 1
    evaluation = NeuralEvaluation().to_dicts()[0]
    assert evaluation["n_units"] == len(Session.Unit & {"recording_set": "vm"}) == 10
    assert len(NeuralEvaluation.Unit()) == 10
    assert 0.3 < evaluation["ceiling"] < 1
    assert evaluation["fraction_of_ceiling"] == pytest.approx(evaluation["test_corr"] / evaluation["ceiling"])
    assert 0 < evaluation["fev"] < 1
