"""The GPU benchmark's smoke mode runs on CPU and reports every measurement."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_benchmark_smoke_mode_reports_every_measurement():
    out = subprocess.run([sys.executable, "bench/gpu.py", "--smoke"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["smoke"] is True
    assert result["training"]["fp32_images_per_s"] > 0 and 0 < result["training"]["mfu"]
    assert result["concurrent"]["models"] == 2 and result["evaluation_images_per_s"] > 0
    assert result["reconstruction"]["batched_image_steps_per_s"] > 0
