"""Training efficiency: the VGG-19-BN step's achieved FLOP/s (counted from its MACs) against
the same machine's dense fp32 matrix-multiply FLOP/s, measured in the same run, per input
size, batch size, thread count and memory format.

Run: ``.venv/bin/python bench/training.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flops import conv_macs, gemm_flops, training_flops_per_image  # noqa: E402

from pipeline.device import choose_device  # noqa: E402
from pipeline.models.vgg import VGGClassifier  # noqa: E402

CONFIGS = [(32, 32), (64, 16), (64, 64)]  # (input px, batch)


def step_rate(model, px: int, batch: int, device, channels_last: bool, steps: int = 3) -> float:
    """Training steps per second (SGD, cross-entropy), best of ``steps`` after a warm-up."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 1, px, px, device=device)
    y = torch.randint(0, 200, (batch,), device=device)
    if channels_last:
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    best = float("inf")
    for i in range(steps + 1):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            best = min(best, time.perf_counter() - start)
    return 1.0 / best


def main() -> dict:
    device = choose_device()
    default_threads = torch.get_num_threads()
    # every size and memory format with all threads; one thread for one size, to see the scaling
    runs = [(default_threads, px, batch, cl) for px, batch in CONFIGS for cl in (False, True)]
    if device.type == "cpu" and default_threads > 1:
        runs.append((1, 64, 16, False))
    rows, gemm_at = [], {}
    for threads, px, batch, channels_last in runs:
        torch.set_num_threads(threads)
        if threads not in gemm_at:
            gemm_at[threads] = gemm_flops(device)
        torch.manual_seed(0)
        model = VGGClassifier(200, width=1.0).to(device).train()
        macs = conv_macs(model, (1, px, px))
        rate = step_rate(model, px, batch, device, channels_last)
        achieved = rate * batch * training_flops_per_image(macs)
        rows.append({"threads": threads, "px": px, "batch": batch, "channels_last": channels_last,
                     "gmac_per_image": round(macs / 1e9, 3), "images_per_s": round(rate * batch, 1),
                     "achieved_gflops": round(achieved / 1e9, 1), "gemm_gflops": round(gemm_at[threads] / 1e9, 1),
                     "fraction_of_gemm": round(achieved / gemm_at[threads], 3)})
        print(json.dumps(rows[-1]), flush=True)
    torch.set_num_threads(default_threads)
    best = max(rows, key=lambda r: r["fraction_of_gemm"])
    return {"device": str(device), "rows": rows, "best": best}


if __name__ == "__main__":
    main()
