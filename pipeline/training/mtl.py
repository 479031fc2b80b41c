"""Multi-task training: classification and neural prediction through the shared conv3_1 block.

Loss (Kendall et al. 2018, as in the paper):
    1/sigma_c^2 * CE + 1/(2 sigma_n^2) * MSE + log sigma_c + log sigma_n
with log sigma_c and log sigma_n learned with the network. The targets of the neural task
are *predicted* responses (Monkey Predictor, its shuffle, or the Oracle's readout) for the
classification images themselves, so MSE is the fitting loss.

One optimizer step is one *cycle*: its classification and neural batches are forwarded one
after the other and their gradients accumulate. The batch ratio says how many of each:
``"k:1"`` runs k neural batches and 1 classification batch per step; ``"1:k"`` runs one
classification batch per step and adds a neural batch every k-th step. An epoch is one
pass over the classification training images; neural batches are drawn from a stream of
permutations of the images with responses, seeded by (seed, epoch), so a resumed run sees
the batches an uninterrupted one would. Neural batches are not augmented: their targets
belong to the unaugmented images. The learning rate follows classification validation
accuracy (the classification trainers' plateau schedule).
"""

from __future__ import annotations

import math

import re

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..data.dataloaders import MTLData, expect
from ..device import choose_device
from ..images.augment import standardise
from ..recordings.measures import corr
from .checkpoint import Checkpointer
from .classification import TrainingResult, _fit

_RATIO = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


def parse_batch_ratio(ratio: str) -> tuple[int, int]:
    """``"k:1"`` or ``"1:k"`` -> (neural batches, classification batches), k >= 1."""
    match = _RATIO.match(str(ratio))
    if not match:
        raise ValueError(f"batch_ratio={ratio!r}: expected 'k:1' or '1:k' (neural : classification), e.g. '3:1'")
    neural, classification = int(match.group(1)), int(match.group(2))
    if min(neural, classification) != 1 or max(neural, classification) < 1:
        raise ValueError(f"batch_ratio={ratio!r}: one side must be 1 and the other at least 1")
    return neural, classification


def batches_in_step(ratio: str, step: int) -> tuple[int, int]:
    """(neural batches, classification batches) of optimizer step ``step`` (0-based) in an epoch."""
    neural, classification = parse_batch_ratio(ratio)
    if classification == 1:
        return neural, 1
    return (1 if step % classification == 0 else 0), 1


def classification_term(ce: torch.Tensor, log_sigma_c: torch.Tensor) -> torch.Tensor:
    """1/sigma_c^2 * CE + log sigma_c."""
    return torch.exp(-2 * log_sigma_c) * ce + log_sigma_c


def neural_term(mse: torch.Tensor, log_sigma_n: torch.Tensor) -> torch.Tensor:
    """1/(2 sigma_n^2) * MSE + log sigma_n."""
    return 0.5 * torch.exp(-2 * log_sigma_n) * mse + log_sigma_n


def uncertainty_weighted_loss(ce, mse, log_sigma_c, log_sigma_n) -> torch.Tensor:
    """The paper's combined loss of one classification and one neural batch."""
    return classification_term(ce, log_sigma_c) + neural_term(mse, log_sigma_n)


class NeuralStream:
    """Indices of neural batches: consecutive slices of per-epoch seeded permutations."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.order, self.position = None, 0

    def start_epoch(self, epoch: int) -> None:
        self.generator = torch.Generator().manual_seed(self.seed * 1_000_003 + 7919 + int(epoch))
        self.order, self.position = torch.randperm(self.n, generator=self.generator), 0

    def next(self) -> torch.Tensor:
        if self.position + self.batch_size > self.n:  # a new pass, so every batch is full-sized
            self.order, self.position = torch.randperm(self.n, generator=self.generator), 0
        idx = self.order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return idx


@torch.no_grad()
def neural_validation(model, images: torch.Tensor, targets: torch.Tensor, mean: float, std: float, batch_size: int) -> dict:
    """MSE and mean per-unit correlation of the model's neural head with the target responses."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        x = standardise(images[start : start + batch_size].to(device), mean, std)
        out.append(model.neural(x).float().cpu())
    prediction = torch.cat(out)
    mse = F.mse_loss(prediction, targets.float()).item()
    unit_corr = corr(prediction.numpy(), targets.numpy())
    return {"neural_mse": mse, "neural_corr": float(np.nanmean(unit_corr)) if np.isfinite(unit_corr).any() else 0.0}


def train_mtl(
    model: nn.Module,
    dataloaders: MTLData,
    seed: int,
    checkpoint: Checkpointer | None = None,
    *,
    batch_ratio: str = "1:1",
    max_epochs: int = 100,
    batch_size: int = 128,
    neural_batch_size: int | None = None,
    lr: float = 0.1,
    momentum: float = 0.75,
    weight_decay: float = 5e-4,
    lr_decay_factor: float = 0.3,
    patience: int = 5,
    tolerance: float = 1e-4,
    max_lr_decays: int = 5,
    augment: bool = True,
    scale_loss: bool = False,
) -> TrainingResult:
    """Co-train an :class:`~pipeline.models.mtl.MTLNetwork` on images and predicted responses.

    ``dataloaders`` (:class:`~pipeline.data.dataloaders.MTLData`) has the image splits
    (``train``, ``validation``, ``test``: uint8 images, labels), ``image_mean``/``image_std``,
    and ``responses`` per split (images x units, rows aligned with the split's images).

    ``scale_loss`` multiplies each neural batch's loss term by sqrt(N / batch), N the
    training images with responses, as the authors' ``neural_full_objective`` does when
    their trainer config sets ``scale_loss`` (its default for multi-loss training). Off by
    default: the paper does not mention it, and whether their published experiments ran
    with it is not verified against their experiment configs.
    """
    parse_batch_ratio(batch_ratio)  # a bad ratio fails before any work
    data = expect(dataloaders, MTLData, "train_mtl")  # its construction checks the rows align
    responses = data.responses
    device = choose_device()
    targets = responses["train"].float().to(device)
    stream = NeuralStream(len(targets), neural_batch_size or batch_size, seed)
    state = {"step": 0, "counts": None}
    mean, std = float(data.image_mean), float(data.image_std)

    def on_epoch(epoch: int) -> None:
        stream.start_epoch(epoch)
        state["step"] = 0

    def step_losses(model, idx, x, y, inputs, generator):
        n_neural, n_classification = batches_in_step(batch_ratio, state["step"])
        state["step"] += 1
        for _ in range(n_classification):
            ce = F.cross_entropy(model(inputs.train(x[idx], generator)), y[idx].long())
            yield classification_term(ce, model.log_sigma_c)
        for _ in range(n_neural):
            rows = stream.next().to(device)
            prediction = model.neural(inputs.eval(x[rows]))
            term = neural_term(F.mse_loss(prediction.float(), targets[rows]), model.log_sigma_n)
            yield term * neural_loss_scale(len(targets), len(rows)) if scale_loss else term

    def evaluate(model) -> dict:
        scores = neural_validation(model, data.validation.inputs, responses["validation"], mean, std, 2 * batch_size)
        return {**scores, "sigma_c": float(model.log_sigma_c.detach().exp()), "sigma_n": float(model.log_sigma_n.detach().exp())}

    result = _fit(model, data, seed, checkpoint, step_losses, desc=f"mtl {batch_ratio}", max_epochs=max_epochs,
                  batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                  lr_decay_factor=lr_decay_factor, patience=patience, tolerance=tolerance,
                  max_lr_decays=max_lr_decays, augment=augment, on_epoch=on_epoch, evaluate=evaluate)
    result.output["batch_ratio"] = batch_ratio
    result.output["scale_loss"] = bool(scale_loss)
    return result


def neural_loss_scale(n_images: int, batch: int) -> float:
    """The authors' scale of a neural batch's loss: sqrt(images in the set / images in the batch)."""
    return math.sqrt(n_images / batch)
