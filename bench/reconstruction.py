"""Batched against per-image constrained reconstruction, at equal results, side by side.

Run: ``.venv/bin/python bench/reconstruction.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.device import choose_device  # noqa: E402
from pipeline.models.vgg import VGGClassifier  # noqa: E402
from pipeline.reconstruction import reconstruct  # noqa: E402

IMAGES, STEPS, NORMS = 6, 40, (5.0, 15.0, 60.0)


def main() -> dict:
    device = choose_device()
    torch.manual_seed(0)
    layer = VGGClassifier(200, width=0.125).to(device).eval().shared_block
    targets = torch.randn(IMAGES, 1, 64, 64, device=device).repeat_interleave(len(NORMS), 0)
    radii = torch.tensor(NORMS * IMAGES, device=device)
    seeds = list(range(len(radii)))
    start = time.perf_counter()
    batched, _ = reconstruct(layer, targets, radii, "sgd", 5.0, STEPS, seeds)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    alone = torch.cat([reconstruct(layer, targets[i : i + 1], radii[i : i + 1], "sgd", 5.0, STEPS, seeds[i : i + 1])[0]
                       for i in range(len(radii))])
    loop_s = time.perf_counter() - start
    result = {
        "device": str(device), "images": len(radii), "steps": STEPS,
        "batched_image_steps_per_s": round(len(radii) * STEPS / batched_s, 1),
        "per_image_image_steps_per_s": round(len(radii) * STEPS / loop_s, 1),
        "speedup": round(loop_s / batched_s, 2),
        "max_abs_difference": float((batched - alone).abs().max()),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
