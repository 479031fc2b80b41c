"""One worker with every core against a pool of one-thread workers, at the demo's model size.

The demo runs one worker process per core (``populate worker --processes N``), each with
one torch thread. This measures why, side by side in one run: the images per second that
VGG-19-BN training steps at the demo's width (0.125, 64 px, batch 64, channels-last)
reach in one process using all cores, and in one process per core with one thread each,
all stepping at the same time.

Run: ``.venv/bin/python bench/worker_pool.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: one process's measurement: warm up, then time ``steps`` training steps
STEP_RATE = """
import json, sys, time, torch
sys.path.insert(0, {root!r})
from torch.nn import functional as F
from pipeline.models.vgg import VGGClassifier
torch.set_num_threads({threads})
torch.manual_seed(0)
model = VGGClassifier(10, width={width}, dropout=0.0).train().to(memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
x = torch.randn({batch}, 1, 64, 64).to(memory_format=torch.channels_last)
y = torch.randint(0, 10, ({batch},))
def step():
    optimizer.zero_grad(set_to_none=True)
    F.cross_entropy(model(x), y).backward()
    optimizer.step()
for _ in range(3):
    step()
start = time.perf_counter()
for _ in range({steps}):
    step()
print(json.dumps({{"images_per_s": {steps} * {batch} / (time.perf_counter() - start)}}))
"""


def _rates(processes: int, threads: int, width: float, batch: int, steps: int) -> list[float]:
    code = STEP_RATE.format(root=str(ROOT), threads=threads, width=width, batch=batch, steps=steps)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    children = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
                for _ in range(processes)]
    rates = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode != 0:
            raise RuntimeError(f"a benchmark process exited {child.returncode}")
        rates.append(json.loads(out.strip().splitlines()[-1])["images_per_s"])
    return rates


def main(width: float = 0.125, batch: int = 64, steps: int = 20) -> dict:
    sys.path.insert(0, str(ROOT))
    from populate.worker import usable_cpus

    cpus = usable_cpus()
    started = time.perf_counter()
    one = _rates(1, cpus, width, batch, steps)
    pool = _rates(cpus, 1, width, batch, steps)
    result = {"cpus": cpus, "width": width, "batch": batch,
              "one_process_images_per_s": round(sum(one), 1), "pool_images_per_s": round(sum(pool), 1),
              "pool_per_process": [round(r, 1) for r in pool], "ratio": round(sum(pool) / sum(one), 2),
              "seconds": round(time.perf_counter() - started, 1)}
    print(f"VGG-19-BN width {width}, batch {batch}: one process with {cpus} threads {sum(one):.0f} images/s; "
          f"{cpus} one-thread processes {sum(pool):.0f} images/s together: {result['ratio']}x")
    return result


if __name__ == "__main__":
    main()
