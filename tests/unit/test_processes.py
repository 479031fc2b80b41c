"""Image corruption from a script read on stdin: one process, the same images, and the reason logged."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import logging, sys
import numpy as np
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from pipeline.corruptions import corrupt_set
from pipeline.images.corruption_pool import CorruptionPool
images = np.random.default_rng(0).integers(0, 256, (6, 32, 32), dtype=np.uint8)
pooled = corrupt_set(images, "gaussian_noise", 2, seed=3, workers=2, progress=False)
single = corrupt_set(images, "gaussian_noise", 2, seed=3, workers=1, progress=False)
pool = CorruptionPool(images, copies=2, seed=1, workers=1)
copies = pool.get(0)
pool.close()
print("equal", bool((pooled == single).all()), "copies", copies.shape)
"""


def test_a_script_read_from_stdin_corrupts_in_one_process_with_the_reason_logged():
    out = subprocess.run([sys.executable, "-"], input=SCRIPT, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "equal True" in out.stdout and "copies (6, 2, 32, 32)" in out.stdout
    assert "runs in one process instead of 2" in out.stderr and "'<stdin>'" in out.stderr
    assert "runs in this process" in out.stderr


def test_a_script_file_and_python_c_keep_their_pools():
    code = "from pipeline.processes import why_no_spawn_pool; print(why_no_spawn_pool())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "None", out.stderr
