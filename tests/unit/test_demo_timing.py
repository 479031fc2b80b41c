"""The demo's timing record is written under the profile's name and read by the benchmarks."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _bench(name):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(ROOT / "bench"))


def test_the_timing_record_is_named_for_the_profile_and_the_benchmark_reads_its_arithmetic(tmp_path, monkeypatch):
    from populate.demo import write_timing

    monkeypatch.setenv("PIPELINE_HOME", str(tmp_path))
    summary = {"seconds": {"MTLModel": 100.0, "CorruptionSet": 20.0}, "done": {"MTLModel": 2, "CorruptionSet": 70},
               "arithmetic_s": {"MTLModel": 90.0, "CorruptionSet": 0.0}}
    # the last step is named "report": the record must still be the demo's
    write_timing({"worker (all tables)": 120.0, "report": 3.0}, summary, 125.0, "demo")
    record = json.loads((tmp_path / "demo-timing.json").read_text())
    assert not (tmp_path / "report-timing.json").exists()
    assert record["arithmetic_s"] == {"MTLModel": 90.0, "CorruptionSet": 0.0}
    result = _bench("arithmetic_share").main(figure_path=tmp_path / "share.png")
    assert result["worker_s"] == 120.0 and result["arithmetic_s"] == 90.0 and result["share"] == 0.75
    assert (tmp_path / "share.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"  # the figure, as a PNG
    assert result["met"] is False
    assert [row["table"] for row in result["tables"]] == ["MTLModel", "CorruptionSet"]


def test_a_pool_of_workers_adds_up_its_jobs_and_seconds_per_table():
    from populate.worker import merge_summaries

    one = {"pid": 1, "done": {"MTLModel": 2}, "errors": {}, "seconds": {"MTLModel": 10.0}, "arithmetic_s": {"MTLModel": 9.0},
           "stopped": False}
    two = {"pid": 2, "done": {"MTLModel": 1, "Evaluation": 4}, "errors": {"Evaluation": 1},
           "seconds": {"MTLModel": 6.0, "Evaluation": 2.5}, "arithmetic_s": {"MTLModel": 5.0, "Evaluation": 2.0},
           "stopped": False}
    merged = merge_summaries([one, two])
    assert merged["processes"] == 2 and merged["pids"] == [1, 2] and merged["stopped"] is False
    assert merged["done"] == {"MTLModel": 3, "Evaluation": 4} and merged["errors"] == {"Evaluation": 1}
    assert merged["seconds"] == {"MTLModel": 16.0, "Evaluation": 2.5}
    assert merged["arithmetic_s"] == {"MTLModel": 14.0, "Evaluation": 2.0}
    assert merge_summaries([one, {**two, "stopped": True, "released": 1}])["stopped"] is True


def test_the_cores_are_split_between_worker_processes(monkeypatch):
    from populate.demo import MAX_DEMO_PROCESSES, demo_processes
    from populate.worker import threads_per_process

    assert threads_per_process(2, cpus=2) == 1 and threads_per_process(4, cpus=16) == 4
    assert threads_per_process(3, cpus=2) == 1  # never below one thread
    monkeypatch.delenv("PIPELINE_DEMO_PROCESSES", raising=False)
    assert demo_processes(cpus=2) == 2 and demo_processes(cpus=1) == 1
    assert demo_processes(cpus=64) == MAX_DEMO_PROCESSES
    monkeypatch.setenv("PIPELINE_DEMO_PROCESSES", "1")
    assert demo_processes(cpus=2) == 1
    monkeypatch.setenv("PIPELINE_DEMO_PROCESSES", "two")
    with pytest.raises(ValueError, match="PIPELINE_DEMO_PROCESSES='two'"):
        demo_processes()
