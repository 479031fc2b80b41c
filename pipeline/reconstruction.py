"""Constrained reconstructions, their spectral controls, and saliency norm ratios.

Reconstruction (paper section 4): given a target image x0 and a layer f (conv3_1), find
    x* = argmin ||f(x) - f(x0)||^2  subject to  ||x||^2 <= r^2
by gradient steps on the squared activation error, summed (the paper's objective) or
averaged over the layer's activations (``reduction``: the same minimiser, a gradient
divided by the layer's size, 65,536 at full width), projecting x onto the L2 ball of
radius r after every step. Images are in the models' standardised pixel space. Many (target, norm) pairs
are optimised as one batch: the loss is the sum of per-image losses, the model is in eval
mode (batch norm uses its running statistics), SGD and Adam act elementwise and the
projection is per image, so each image's trajectory is the one it would have alone (a
test checks this).
"""

from __future__ import annotations

import numpy as np
import torch


def project_to_ball(x: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Each image (first axis) scaled onto the L2 ball of its radius if it lies outside."""
    norms = x.flatten(1).norm(dim=1)
    scale = torch.clamp(radius / norms.clamp_min(1e-12), max=1.0)
    return x * scale.view(-1, *([1] * (x.dim() - 1)))


def initial_images(shape: tuple[int, ...], seeds: list[int], scale: float = 0.01) -> torch.Tensor:
    """Small seeded noise per image, so an image starts the same in a batch or alone."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) * scale for s in seeds])


REDUCTIONS = ("sum", "mean")


def reconstruct(layer, targets: torch.Tensor, radii: torch.Tensor, optimizer: str, lr: float, steps: int,
                seeds: list[int], progress: bool = False, reduction: str = "mean",
                trace_every: int = 0) -> tuple[torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, list]:
    """Reconstruct each target (B, 1, H, W; standardised) under its radius.

    ``layer`` maps images to activations (the model's conv3_1 block, in eval mode). Returns
    (reconstructions, final ||f(x) - f(x0)||^2 per image). ``optimizer`` is ``sgd`` or ``adam``;
    ``reduction`` is the objective the steps are taken on, ``sum`` (||f(x) - f(x0)||^2) or
    ``mean`` (that over the number of activations). With ``trace_every`` > 0 a third value
    lists (step, per-image ||f(x) - f(x0)||^2) every that many steps, for convergence studies.
    """
    from .progress import progress_bar

    device = targets.device
    radii = torch.as_tensor(radii, dtype=targets.dtype, device=device)
    with torch.no_grad():
        goal = layer(targets).detach()
    x = project_to_ball(initial_images(tuple(targets.shape[1:]), seeds).to(device), radii).requires_grad_(True)
    if optimizer == "sgd":
        opt = torch.optim.SGD([x], lr=lr)
    elif optimizer == "adam":
        opt = torch.optim.Adam([x], lr=lr)
    else:
        raise ValueError(f"optimizer {optimizer!r}: expected 'sgd' or 'adam'")
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction {reduction!r}: expected one of {REDUCTIONS}")
    # SGD's step scales with the objective, so sum and mean are different step sizes (by the
    # layer's size); Adam normalises the gradient and is nearly invariant to the choice
    trace = []
    for step in progress_bar(range(steps), desc="reconstruction", unit="step", leave=False, disable=not progress):
        opt.zero_grad(set_to_none=True)
        squared = (layer(x) - goal).pow(2).flatten(1)
        if trace_every and step % trace_every == 0:
            trace.append((step, squared.detach().sum(1).cpu()))
        per_image = squared.sum(1) if reduction == "sum" else squared.mean(1)
        per_image.sum().backward()
        opt.step()
        with torch.no_grad():
            x.copy_(project_to_ball(x, radii))
    with torch.no_grad():
        losses = (layer(x) - goal).pow(2).flatten(1).sum(1)
    if trace_every:
        trace.append((steps, losses.detach().cpu()))
        return x.detach(), losses.detach(), trace
    return x.detach(), losses.detach()


def spectral_control(reconstruction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The target with the reconstruction's Fourier amplitude spectrum and its own phase."""
    amplitude = np.abs(np.fft.fft2(reconstruction))
    phase = np.angle(np.fft.fft2(target))
    return np.real(np.fft.ifft2(amplitude * np.exp(1j * phase)))


def norm_ratio(image: np.ndarray, mask: np.ndarray) -> float:
    """rho(I) = ||salient(I)||^2 / ||I||^2: the share of the image's power in the mask."""
    image = np.asarray(image, dtype=np.float64)
    total = float((image**2).sum())
    return float((image[np.asarray(mask, dtype=bool)] ** 2).sum() / total) if total > 0 else float("nan")


def normalised_ratio(reconstruction: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """(rho(I_r) - rho(I_o)) / (1 - rho(I_o)): 1 = all power in the salient region, 0 = as the original."""
    rho_o = norm_ratio(original, mask)
    return (norm_ratio(reconstruction, mask) - rho_o) / (1 - rho_o)
