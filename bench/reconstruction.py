"""Batched against per-image constrained reconstruction, at equal results, side by side.

Run: ``.venv/bin/python bench/reconstruction.py``; with ``--convergence``, the sum and the
mean objective compared at full width (README, Reconstructions).
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
# a random layer's activations are ~5x smaller than a trained model's at conv3_1 (measured on
# the demo's MTL models); the factor gives the optimisation a trained model's loss landscape
ACTIVATION_SCALE = 5.0
METHODS = [("sgd", 5.0), ("adam", 0.01)]  # the paper's: SGD lr 5 (MTL models), Adam lr 0.01 (Baseline, Oracle)


def compare(layer, targets, radii, seeds, optimizer: str, lr: float) -> dict:
    start = time.perf_counter()
    batched, batched_loss = reconstruct(layer, targets, radii, optimizer, lr, STEPS, seeds)
    batched_s = time.perf_counter() - start
    start = time.perf_counter()
    alone = [reconstruct(layer, targets[i : i + 1], radii[i : i + 1], optimizer, lr, STEPS, seeds[i : i + 1])
             for i in range(len(radii))]
    loop_s = time.perf_counter() - start
    alone_x, alone_loss = torch.cat([a[0] for a in alone]), torch.cat([a[1] for a in alone])
    return {
        "optimizer": optimizer, "lr": lr,
        "batched_image_steps_per_s": round(len(radii) * STEPS / batched_s, 1),
        "per_image_image_steps_per_s": round(len(radii) * STEPS / loop_s, 1),
        "speedup": round(loop_s / batched_s, 2),
        # equal results: the largest pixel difference relative to the image's norm, and of the final loss
        "max_relative_image_difference": float(((batched - alone_x).flatten(1).norm(dim=1) / radii).max()),
        "max_relative_loss_difference": float(((batched_loss - alone_loss).abs() / alone_loss).max()),
    }


def convergence(steps: int = 100, every: int = 10, norms=(5.0, 15.0, 60.0)) -> list[dict]:
    """The paper's step sizes on the sum and on the mean objective, at FULL width (conv3_1 has
    256 x 16 x 16 = 65,536 activations), for a few steps on one demo-set target.

    Prints ||f(x) - f(x0)||^2 relative to its value at step 0, per norm, every ``every`` steps.
    The network is VGG-19-BN at random initialisation with its conv3_1 output scaled by
    ACTIVATION_SCALE (no trained full-width model exists on a CPU machine)."""
    import numpy as np

    from pipeline.images.demo_set import SHAPES, render
    from pipeline.corruptions import to_gray

    device = choose_device()
    torch.manual_seed(0)
    model = VGGClassifier(200, width=1.0).to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    block = model.shared_block

    def layer(x):
        return ACTIVATION_SCALE * block(x)

    image = to_gray(render(np.random.default_rng(0), SHAPES[3])).astype(np.float32) / 255.0
    target = torch.from_numpy((image - image.mean()) / image.std())[None, None].to(device)
    targets = target.repeat(len(norms), 1, 1, 1)
    radii = torch.tensor(norms, device=device)
    rows = []
    for optimizer, lr in METHODS:
        for reduction in ("sum", "mean"):
            start = time.perf_counter()
            _, _, trace = reconstruct(layer, targets, radii, optimizer, lr, steps, list(range(len(norms))),
                                      reduction=reduction, trace_every=every)
            first = trace[0][1]
            row = {"optimizer": optimizer, "lr": lr, "reduction": reduction, "width": 1.0, "steps": steps,
                   "seconds": round(time.perf_counter() - start, 1),
                   "relative_loss": {f"{n:g}": [round(float(t[1][i] / first[i]), 4) for t in trace] for i, n in enumerate(norms)},
                   "at_steps": [t[0] for t in trace]}
            print(json.dumps(row))
            rows.append(row)
    return rows


def main() -> dict:
    device = choose_device()
    torch.manual_seed(0)
    model = VGGClassifier(200, width=0.125).to(device).eval()
    for p in model.parameters():  # frozen, as the Reconstruction table's make freezes them
        p.requires_grad_(False)
    block = model.shared_block

    def layer(x):
        return ACTIVATION_SCALE * block(x)

    targets = torch.randn(IMAGES, 1, 64, 64, device=device).repeat_interleave(len(NORMS), 0)
    radii = torch.tensor(NORMS * IMAGES, device=device)
    seeds = list(range(len(radii)))
    rows = [compare(layer, targets, radii, seeds, optimizer, lr) for optimizer, lr in METHODS]
    for row in rows:
        print(json.dumps(row))
    return {"device": str(device), "images": len(radii), "steps": STEPS, "methods": rows}


if __name__ == "__main__":
    if "--convergence" in sys.argv:
        convergence()
    else:
        main()
