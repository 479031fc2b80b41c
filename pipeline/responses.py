"""Predicted responses: a neural model run on every image of a classification dataset, and
the shuffled control.

The responses of a dataset are one (images, units) array per split, columns in session
order (sessions sorted by id, units by index), so that the MTL network's single readout
can predict all units at once.
"""

from __future__ import annotations

import numpy as np
import torch
from .progress import progress_bar


@torch.no_grad()
def predict_all(model, images: torch.Tensor, sessions: list[str], batch_size: int = 256, desc: str = "responses") -> np.ndarray:
    """(images, units of all ``sessions``) float32: ``model.predict_session`` on uint8 images."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in progress_bar(range(0, len(images), batch_size), desc=desc, unit="batch", leave=False):
        batch = images[start : start + batch_size].to(device)
        out.append(torch.cat([model.predict_session(batch, s).float() for s in sessions], dim=1).cpu())
    return torch.cat(out).numpy().astype(np.float32)


def shuffle_seed_for(shuffle_seed: int, producer_seed: int) -> int:
    """The permutation seed of one shuffled entry: each producer seed gets its own
    permutations (the control's five models are not five copies of one shuffle)."""
    return int(np.random.SeedSequence([int(shuffle_seed), int(producer_seed)]).generate_state(1)[0])


def shuffle_per_neuron(responses: np.ndarray, seed: int) -> np.ndarray:
    """Each column permuted across rows independently, with a seeded generator.

    No column keeps its original order: an identity permutation is drawn again (with two
    or more rows), so every unit's responses are moved to other images.
    """
    responses = np.asarray(responses)
    n, units = responses.shape
    rng = np.random.default_rng(seed)
    out = np.empty_like(responses)
    identity = np.arange(n)
    for u in range(units):
        order = rng.permutation(n)
        while n > 1 and np.array_equal(order, identity):
            order = rng.permutation(n)
        out[:, u] = responses[order, u]
    return out
