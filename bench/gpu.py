"""GPU benchmark, ready for a machine with an NVIDIA GPU; ``--smoke`` runs tiny sizes on CPU.

Measures, each with the ratio that matters:
* training images/s and MFU (achieved FLOP/s over the device's dense bf16 matrix-multiply
  FLOP/s, measured here) for VGG-19-BN at 64 px with bf16 autocast, channels-last and
  ``torch.compile``, against the same step in fp32 without them;
* several small models trained concurrently on one GPU (CUDA streams) against one after
  the other;
* evaluation throughput (inference on stored uint8 images);
* batched reconstruction steps/s against per-image.

Run: ``python bench/gpu.py`` (GPU) or ``python bench/gpu.py --smoke`` (CPU, seconds).
"""

from __future__ import annotations

import argparse
import contextlib
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
from pipeline.evaluation import correct_per_image  # noqa: E402
from pipeline.models.vgg import VGGClassifier  # noqa: E402
from pipeline.reconstruction import reconstruct  # noqa: E402


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_rate(device, width, px, batch, steps, fast: bool, compile_model: bool) -> float:
    torch.manual_seed(0)
    model = VGGClassifier(200, width=width).to(device).train()
    x = torch.randn(batch, 1, px, px, device=device)
    y = torch.randint(0, 200, (batch,), device=device)
    if fast:
        model, x = model.to(memory_format=torch.channels_last), x.to(memory_format=torch.channels_last)
    step_model = torch.compile(model) if compile_model else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if fast and device.type == "cuda" else contextlib.nullcontext()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            loss = F.cross_entropy(step_model(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - start)


def concurrent_training(device, n_models, width, px, batch, steps) -> dict:
    """Small models stepped on separate CUDA streams (interleaved on CPU) vs one after another."""
    torch.manual_seed(0)
    models = [VGGClassifier(200, width=width).to(device).train() for _ in range(n_models)]
    optimizers = [torch.optim.SGD(m.parameters(), lr=0.01) for m in models]
    x = torch.randn(batch, 1, px, px, device=device)
    y = torch.randint(0, 200, (batch,), device=device)
    streams = [torch.cuda.Stream() for _ in models] if device.type == "cuda" else [None] * n_models

    def step(i):
        ctx = torch.cuda.stream(streams[i]) if streams[i] is not None else contextlib.nullcontext()
        with ctx:
            optimizers[i].zero_grad(set_to_none=True)
            F.cross_entropy(models[i](x), y).backward()
            optimizers[i].step()

    for i in range(n_models):
        step(i)
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        for i in range(n_models):
            step(i)
    _sync(device)
    together = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(n_models):
        for _ in range(steps):
            step(i)
        _sync(device)
    apart = time.perf_counter() - start
    return {"models": n_models, "concurrent_images_per_s": round(n_models * steps * batch / together, 1),
            "sequential_images_per_s": round(n_models * steps * batch / apart, 1), "speedup": round(apart / together, 2)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on any device, for tests")
    args = parser.parse_args(argv if argv is not None else [])
    device = choose_device()
    smoke = args.smoke or device.type != "cuda"
    width, px, batch, steps = (0.125, 32, 8, 2) if smoke else (1.0, 64, 256, 20)
    macs = conv_macs(VGGClassifier(200, width=width).to(device), (1, px, px))
    peak = gemm_flops(device, size=512 if smoke else 8192, dtype=torch.float32 if device.type != "cuda" else torch.bfloat16)
    compile_model = device.type == "cuda"  # compiling on CPU needs a compiler toolchain and minutes
    baseline = train_rate(device, width, px, batch, steps, fast=False, compile_model=False)
    fast = train_rate(device, width, px, batch, steps, fast=True, compile_model=compile_model)
    result = {
        "device": str(device) + (f" ({torch.cuda.get_device_name()})" if device.type == "cuda" else ""),
        "smoke": smoke,
        "training": {"width": width, "px": px, "batch": batch, "fp32_images_per_s": round(baseline, 1),
                     "fast_images_per_s": round(fast, 1), "fast_speedup": round(fast / baseline, 2),
                     "bf16_autocast": device.type == "cuda", "channels_last": True, "torch_compile": compile_model,
                     "mfu": round(fast * training_flops_per_image(macs) / peak, 4), "peak_gemm_tflops": round(peak / 1e12, 2)},
        "concurrent": concurrent_training(device, 2 if smoke else 4, 0.125, px, batch, steps),
    }
    model = VGGClassifier(200, width=width).to(device).eval()
    images = torch.randint(0, 256, (64 if smoke else 20000, px, px), dtype=torch.uint8)
    labels = torch.randint(0, 200, (len(images),))
    correct_per_image(model, images[:8], labels[:8], 0.45, 0.22)
    _sync(device)
    start = time.perf_counter()
    correct_per_image(model, images, labels, 0.45, 0.22, batch_size=1024)
    _sync(device)
    result["evaluation_images_per_s"] = round(len(images) / (time.perf_counter() - start), 1)
    n = 6 if smoke else 60
    targets = torch.randn(n, 1, px, px, device=device)
    radii = torch.full((n,), 15.0, device=device)
    rec_steps = 5 if smoke else 200
    start = time.perf_counter()
    reconstruct(model.shared_block, targets, radii, "sgd", 5.0, rec_steps, list(range(n)))
    _sync(device)
    batched = n * rec_steps / (time.perf_counter() - start)
    start = time.perf_counter()
    for i in range(min(n, 6)):
        reconstruct(model.shared_block, targets[i : i + 1], radii[i : i + 1], "sgd", 5.0, rec_steps, [i])
    _sync(device)
    single = min(n, 6) * rec_steps / (time.perf_counter() - start)
    result["reconstruction"] = {"batched_image_steps_per_s": round(batched, 1), "per_image_image_steps_per_s": round(single, 1),
                                "speedup": round(batched / single, 2)}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
