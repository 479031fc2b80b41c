"""Resumable classification trainers: the Baseline, and the Oracle's two stages.

Batches are cut from whole tensors by index on the device and augmented there as a batch
(``pipeline.images.augment``): no per-image Python in the loop. Each epoch's order and
augmentation come from a generator seeded by (seed, epoch), so a run resumed from a
checkpoint sees exactly the batches an uninterrupted run would have seen.

Schedule (the paper's): SGD with momentum, weight decay 5e-4, batch 128; the learning
rate is multiplied by ``lr_decay_factor`` when validation accuracy has not improved by
``tolerance`` for ``patience`` epochs; training stops after ``max_lr_decays`` reductions or
``max_epochs``. The weights with the best validation accuracy are returned.
"""

from __future__ import annotations

import contextlib
import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from ..data.dataloaders import ClassificationData, expect
from ..device import choose_device
from ..images.augment import augment as augment_batch
from ..images.augment import standardise
from .checkpoint import Checkpointer
from .loop import fit


@dataclasses.dataclass
class TrainingResult:
    score: float  # the trainer's headline metric (named in output["metric"])
    output: dict  # JSON-serialisable summary: metric name, per-epoch history, resume info
    state_dict: dict  # final model weights (CPU tensors)


class Inputs:
    """Turns stored inputs into model inputs: images are augmented or standardised, features pass."""

    def __init__(self, data: ClassificationData, augment: bool):
        self.is_image = data.is_image
        self.mean = float(data.image_mean)
        self.std = float(data.image_std)
        self.augment = augment and self.is_image

    def train(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.augment:
            return augment_batch(x, self.mean, self.std, generator)
        return self.eval(x)

    def eval(self, x: torch.Tensor) -> torch.Tensor:
        return standardise(x, self.mean, self.std) if self.is_image else x


def _autocast(device: torch.device):
    # bf16 on GPU; full precision on CPU, where bf16 is slower
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, inputs: Inputs | None = None) -> float:
    """Share of correctly classified inputs (``inputs`` standardises stored images)."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(x), batch_size):
        batch = x[start : start + batch_size].to(device)
        batch = inputs.eval(batch) if inputs is not None else batch
        with _autocast(device):
            logits = model(batch)
        correct += (logits.argmax(1) == y[start : start + batch_size].to(device)).sum().item()
    return correct / max(len(x), 1)


def freeze(model: nn.Module, upto: int) -> list[nn.Module]:
    """Freeze ``model.features[:upto]``: no gradients, and batch norm statistics held fixed."""
    frozen = list(model.features[:upto]) if upto else []
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters; those the model lists in ``no_weight_decay`` get none."""
    exempt = set(getattr(model, "no_weight_decay", ()))
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [{"params": [p for n, p in named if n not in exempt], "weight_decay": weight_decay}]
    if any(n in exempt for n, _ in named):
        groups.append({"params": [p for n, p in named if n in exempt], "weight_decay": 0.0})
    return groups


def _fit(
    model: nn.Module,
    data: ClassificationData,
    seed: int,
    checkpoint: Checkpointer | None,
    step_loss,
    *,
    desc: str,
    max_epochs: int,
    batch_size: int,
    lr: float,
    momentum: float,
    weight_decay: float,
    lr_decay_factor: float,
    patience: int,
    tolerance: float,
    max_lr_decays: int,
    augment: bool,
    freeze_upto: int = 0,
    on_epoch=None,
    evaluate=None,
    selection=None,
) -> TrainingResult:
    """The classification trainers' step and metric, trained by the one engine
    (:func:`pipeline.training.loop.fit`).

    ``step_loss(model, idx, x, y, inputs, generator)`` returns the loss of one optimizer
    step, or an iterable of losses (several batches) whose gradients accumulate into that
    step. ``on_epoch(epoch)`` runs before each epoch; ``evaluate(model)`` after it returns
    extra numbers for the history (and, from the returned weights, for the output).
    ``selection = (name, fn)``: ``fn(model)`` is the validation score that the plateau schedule
    and the choice of the returned weights use, instead of clean validation accuracy.
    """
    device = choose_device()
    torch.manual_seed(seed)
    model = model.to(device)
    # channels-last on every device: on this 2-core CPU a VGG step runs 1.2-1.45x faster in it
    # (batches 32-64, bench/training.py), and the GPU's tensor cores want it too
    model = model.to(memory_format=torch.channels_last)
    frozen = freeze(model, freeze_upto)
    inputs = Inputs(data, augment)
    x_train, y_train = (t.to(device) for t in data.train)
    x_val, y_val = data.validation
    optimizer = torch.optim.SGD(_param_groups(model, weight_decay), lr=lr, momentum=momentum)

    def run_epoch(epoch, generator):
        order = torch.randperm(len(x_train), generator=generator).to(device)
        total, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            with _autocast(device):
                losses = step_loss(model, idx, x_train, y_train, inputs, generator)
                # a step may consist of several batches: their gradients accumulate
                for loss in [losses] if isinstance(losses, torch.Tensor) else losses:
                    loss.backward()
                    total += loss.item()
            optimizer.step()
            batches += 1
        return total, batches

    def validate(model):
        val_acc = accuracy(model, x_val, y_val, 2 * batch_size, inputs)
        record = {"val_accuracy": val_acc, **(evaluate(model) if evaluate is not None else {})}
        if selection is None:
            return val_acc, record
        score = selection[1](model)
        return score, {**record, f"val_{selection[0]}": score}

    fitted = fit(model, optimizer, seed, checkpoint, run_epoch=run_epoch, validate=validate, desc=desc,
                 max_epochs=max_epochs, lr_decay_factor=lr_decay_factor, patience=patience, tolerance=tolerance,
                 max_lr_decays=max_lr_decays, frozen=frozen, on_epoch=on_epoch)
    if fitted.best_state is not None:
        model.load_state_dict(fitted.best_state)
    output = {
        **fitted.summary("validation_accuracy" if selection is None else f"validation_{selection[0]}"),
        "validation_accuracy": accuracy(model, x_val, y_val, 2 * batch_size, inputs),
    }
    if data.test is not None:
        output["test_accuracy"] = accuracy(model, *data.test, 2 * batch_size, inputs)
    if evaluate is not None:
        output.update(evaluate(model))
    if selection is not None:
        output[output["metric"]] = selection[1](model)
    return TrainingResult(
        score=output[output["metric"]],
        output=output,
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
    )


def train_classifier(
    model: nn.Module,
    dataloaders: ClassificationData,
    seed: int,
    checkpoint: Checkpointer | None = None,
    *,
    max_epochs: int = 100,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.75,
    weight_decay: float = 5e-4,
    lr_decay_factor: float = 0.3,
    patience: int = 5,
    tolerance: float = 1e-4,
    max_lr_decays: int = 5,
    augment: bool = True,
    freeze_upto: int = 0,
) -> TrainingResult:
    """Cross-entropy on clean (augmented) images: the Baseline, and the Oracle's stage 2
    (``freeze_upto=17`` keeps everything up to conv3_1 fixed).

    ``dataloaders`` (:class:`~pipeline.data.dataloaders.ClassificationData`) has ``train``,
    ``validation`` (and optionally ``test``) splits of (inputs, labels); inputs are uint8
    images (standardised with ``image_mean``/``image_std``) or float features.
    """
    data = expect(dataloaders, ClassificationData, "train_classifier")

    def step_loss(model, idx, x, y, inputs, generator):
        return F.cross_entropy(model(inputs.train(x[idx], generator)), y[idx].long())

    return _fit(model, data, seed, checkpoint, step_loss, desc="classifier", max_epochs=max_epochs,
                batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                lr_decay_factor=lr_decay_factor, patience=patience, tolerance=tolerance,
                max_lr_decays=max_lr_decays, augment=augment, freeze_upto=freeze_upto)


def train_oracle_stage1(
    model: nn.Module,
    dataloaders: ClassificationData,
    seed: int,
    checkpoint: Checkpointer | None = None,
    *,
    max_epochs: int = 100,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.75,
    weight_decay: float = 5e-4,
    lr_decay_factor: float = 0.3,
    patience: int = 5,
    tolerance: float = 1e-4,
    max_lr_decays: int = 5,
    augment: bool = True,
    consistency_weight: float = 1.0,
    pool_refresh_epochs: int = 1,
    pool_workers: int | None = None,
) -> TrainingResult:
    """The Oracle's stage 1: a 1:1 mix of clean and corrupted images (the 14 TIN-TC corruptions
    at random severities), plus ``consistency_weight`` times the mean squared difference
    between the conv3_1 outputs of one augmented view under two different corruptions.

    As in the authors' pipeline, a corrupted image is ``grey(corrupt(augment(rgb)))``: the
    copies come from a :class:`~pipeline.images.corruption_pool.CorruptionPool` over the RGB
    training pixels (``dataloaders.train_rgb``, (n, h, w, 3) uint8; without it the grey
    images are replicated), augmented with the training geometry and then corrupted, and
    refreshed every ``pool_refresh_epochs`` epochs by background processes.

    Each optimiser step makes ONE forward pass over a batch of the clean half (augmented on
    the device), the corrupted half and the corrupted half's second copies: cross-entropy over
    the first two, consistency between the last two. Batch norm therefore updates its running
    statistics once per step, from the batch the loss is computed on (stage 2 freezes them).

    Model selection (plateau schedule and returned weights) uses the validation split mixed as
    training is: the mean of clean validation accuracy and the accuracy on the validation
    images under one seeded corruption each (``validation_mixed_accuracy``).
    """
    from ..images.augment import PAPER_AUGMENTATION
    from ..images.corruption_pool import CorruptionPool

    data = expect(dataloaders, ClassificationData, "train_oracle_stage1")
    train_images = data.train.inputs
    if not data.is_image:
        raise ValueError("the Oracle trains on images (uint8), not features")
    train_rgb = data.train_rgb
    if train_rgb is not None and tuple(train_rgb.shape) != tuple(train_images.shape) + (3,):
        raise ValueError(f"train_rgb has shape {tuple(train_rgb.shape)}, expected {tuple(train_images.shape) + (3,)}")
    source = train_rgb if train_rgb is not None else train_images
    pool = CorruptionPool(source.numpy(), copies=2, seed=seed, workers=pool_workers,
                          augmentation=PAPER_AUGMENTATION if augment else None)
    state = {"block": None, "copies": None}
    device = choose_device()

    def on_epoch(epoch: int) -> None:
        block = epoch // pool_refresh_epochs
        if state["block"] != block:
            state["copies"] = torch.from_numpy(pool.get(block)).to(device)
            state["block"] = block

    def step_loss(model, idx, x, y, inputs, generator):
        copies = state["copies"]
        half = len(idx) // 2
        clean, corrupted = idx[:half], idx[half:]
        labels = torch.cat([y[clean], y[corrupted]]).long()
        # copies are augmented already: only standardised here
        batch = torch.cat([inputs.train(x[clean], generator), inputs.eval(copies[corrupted, 0]), inputs.eval(copies[corrupted, 1])])
        logits, shared = model.forward_with_shared_block(batch)
        n = len(idx)
        loss = F.cross_entropy(logits[:n], labels)
        first, second = shared[half:n], shared[n:]
        return loss + consistency_weight * (first - second).pow(2).mean()

    try:
        validation = data.validation
        val_rgb = data.validation_rgb
        val_corrupted = torch.from_numpy(pool.corrupted_validation((val_rgb if val_rgb is not None else validation[0]).numpy()))
        inputs = Inputs(data, augment)

        def mixed_accuracy(model) -> float:
            clean = accuracy(model, validation[0], validation[1], 2 * batch_size, inputs)
            corrupted = accuracy(model, val_corrupted, validation[1], 2 * batch_size, inputs)
            return (clean + corrupted) / 2

        result = _fit(model, data, seed, checkpoint, step_loss, desc="oracle stage 1", max_epochs=max_epochs,
                      batch_size=batch_size, lr=lr, momentum=momentum, weight_decay=weight_decay,
                      lr_decay_factor=lr_decay_factor, patience=patience, tolerance=tolerance,
                      max_lr_decays=max_lr_decays, augment=augment, on_epoch=on_epoch,
                      selection=("mixed_accuracy", mixed_accuracy))
    finally:
        pool.close()
    return result


def train_oracle_stage2(
    model: nn.Module,
    dataloaders: ClassificationData,
    seed: int,
    checkpoint: Checkpointer | None = None,
    *,
    max_epochs: int = 100,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.75,
    weight_decay: float = 5e-4,
    lr_decay_factor: float = 0.3,
    patience: int = 5,
    tolerance: float = 1e-4,
    max_lr_decays: int = 5,
    augment: bool = True,
) -> TrainingResult:
    """The Oracle's stage 2: clean training of everything above conv3_1.

    ``model`` arrives with its stage-1 weights up to conv3_1 and fresh weights above; those
    layers (``features[:17]``) stay frozen, batch-norm statistics included.
    """
    from ..models.vgg import CONV3_1

    return train_classifier(model, dataloaders, seed, checkpoint, max_epochs=max_epochs, batch_size=batch_size, lr=lr,
                            momentum=momentum, weight_decay=weight_decay, lr_decay_factor=lr_decay_factor,
                            patience=patience, tolerance=tolerance, max_lr_decays=max_lr_decays, augment=augment,
                            freeze_upto=CONV3_1)
