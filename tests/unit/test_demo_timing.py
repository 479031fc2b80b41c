"""The demo's timing record is written under the profile's name and read by the benchmarks."""

import importlib.util
import json
import sys
from pathlib import Path

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
    result = _bench("arithmetic_share").main()
    assert result["worker_s"] == 120.0 and result["arithmetic_s"] == 90.0 and result["share"] == 0.75
    assert result["met"] is False
    assert [row["table"] for row in result["tables"]] == ["MTLModel", "CorruptionSet"]
