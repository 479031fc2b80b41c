"""Counting a network's multiply-accumulates (shared by the training and GPU benchmarks)."""

from __future__ import annotations

import torch
from torch import nn


def conv_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass of one input, over convolutions and linear layers."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            total += output.shape[1] * output.shape[2] * output.shape[3] * k
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *input_shape, device=next(model.parameters()).device))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total


def training_flops_per_image(macs: int) -> float:
    """Forward (2 FLOPs per MAC) plus backward (about twice the forward)."""
    return 6.0 * macs


def gemm_flops(device, size: int = 2048, repeats: int = 5, dtype=torch.float32) -> float:
    """Dense matrix-multiply FLOP/s of this device, best of ``repeats``."""
    import time

    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 2.0 * size**3 / best
