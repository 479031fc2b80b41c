"""Evaluating one model on stored TIN-TC sets against corrupting on the fly, and the
speed-up of generating the sets on all cores; both sides measured in the same run.

Run: ``.venv/bin/python bench/corruption_eval.py``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flops import conv_macs, gemm_flops  # noqa: E402
from pipeline.corruptions import corrupt_set  # noqa: E402
from pipeline.device import choose_device  # noqa: E402
from pipeline.evaluation import correct_per_image, for_inference  # noqa: E402
from pipeline.models.vgg import VGGClassifier  # noqa: E402

IMAGES = 200
CONDITIONS = [("gaussian_noise", 3), ("zoom_blur", 3), ("frost", 3), ("contrast", 3), ("jpeg_compression", 3)]


def main() -> dict:
    device = choose_device()
    rng = np.random.default_rng(0)
    images = (rng.random((IMAGES, 64, 64)) * 255).astype(np.uint8)
    labels = rng.integers(0, 200, IMAGES)
    model = VGGClassifier(200, width=0.125).to(device).eval()
    workers = os.cpu_count() or 1

    start = time.perf_counter()
    stored = [corrupt_set(images, c, s, workers=1, progress=False) for c, s in CONDITIONS]
    serial_s = time.perf_counter() - start
    corrupt_set(images[:8], "contrast", 1, workers=workers, progress=False)  # start the pool once
    start = time.perf_counter()
    parallel = [corrupt_set(images, c, s, workers=workers, progress=False) for c, s in CONDITIONS]
    parallel_s = time.perf_counter() - start
    assert all(np.array_equal(a, b) for a, b in zip(stored, parallel))

    def classify_stored(net) -> tuple[float, list]:
        """Best of three passes over the stored sets (after a warm-up pass): seconds, results."""
        correct_per_image(net, stored[0], labels, 0.45, 0.22)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            results = [correct_per_image(net, data, labels, 0.45, 0.22) for data in stored]
            best = min(best, time.perf_counter() - start)
        return best, results

    contiguous_s, reference = classify_stored(model)  # the default memory format
    model = for_inference(model)
    stored_s, fast = classify_stored(model)  # what Evaluation does: the stored sets, channels-last
    assert all(np.array_equal(a, b) for a, b in zip(reference, fast))
    start = time.perf_counter()
    for c, s in CONDITIONS:  # corrupting on the fly, one core as a data loader would per image
        correct_per_image(model, corrupt_set(images, c, s, workers=1, progress=False), labels, 0.45, 0.22)
    fly_s = time.perf_counter() - start
    # how far the ratio can go: on-the-fly evaluation pays corruption plus inference, so the
    # ratio is 1 + corruption/inference, and inference cannot beat the machine's GEMM rate
    flops_per_image = 2 * conv_macs(model, (1, 64, 64))
    gemm = gemm_flops(device)
    corrupt_per_image_s = serial_s / (IMAGES * len(CONDITIONS))
    result = {
        "device": str(device), "images_per_condition": IMAGES, "conditions": len(CONDITIONS), "cores": workers,
        "stored_images_per_s": round(IMAGES * len(CONDITIONS) / stored_s, 1),
        "stored_images_per_s_contiguous_format": round(IMAGES * len(CONDITIONS) / contiguous_s, 1),
        "channels_last_speedup": round(contiguous_s / stored_s, 2),
        "on_the_fly_images_per_s": round(IMAGES * len(CONDITIONS) / fly_s, 1),
        "stored_vs_on_the_fly": round(fly_s / stored_s, 2),
        "inference_gflops": round(IMAGES * len(CONDITIONS) / stored_s * flops_per_image / 1e9, 1),
        "gemm_gflops": round(gemm / 1e9, 1),
        "inference_fraction_of_gemm": round(IMAGES * len(CONDITIONS) / stored_s * flops_per_image / gemm, 3),
        "corruption_ms_per_image_one_core": round(1000 * corrupt_per_image_s, 3),
        "stored_vs_on_the_fly_ceiling_at_gemm": round(1 + corrupt_per_image_s / (flops_per_image / gemm), 2),
        "generation_images_per_s_one_core": round(IMAGES * len(CONDITIONS) / serial_s, 1),
        "generation_images_per_s_all_cores": round(IMAGES * len(CONDITIONS) / parallel_s, 1),
        "generation_speedup_all_cores": round(serial_s / parallel_s, 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
