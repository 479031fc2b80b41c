"""A resumable classification trainer over in-memory tensors.

Batches are cut from whole tensors by index on the device: no per-sample Python in the
loop. Each epoch's order comes from a generator seeded by (seed, epoch), so a run resumed
from a checkpoint sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import time

import torch
from torch import nn

from ..device import choose_device
from .checkpoint import Checkpointer
from .loop import ResumableLoop, epoch_generator


@dataclasses.dataclass
class TrainingResult:
    score: float  # the trainer's headline metric (named in output["metric"])
    output: dict  # JSON-serialisable summary: metric name, per-epoch history, resume info
    state_dict: dict  # final model weights (CPU tensors)


def epoch_order(n: int, seed: int, epoch: int, device) -> torch.Tensor:
    return torch.randperm(n, generator=epoch_generator(seed, epoch)).to(device)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    model.eval()
    correct = 0
    for start in range(0, len(x), batch_size):
        logits = model(x[start : start + batch_size])
        correct += (logits.argmax(1) == y[start : start + batch_size]).sum().item()
    return correct / max(len(x), 1)


def train_classifier(
    model: nn.Module,
    dataloaders: dict,
    seed: int,
    checkpoint: Checkpointer | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 0.1,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    lr_decay_epochs: tuple | list = (),
    lr_decay_factor: float = 0.1,
) -> TrainingResult:
    """SGD with momentum on cross-entropy; validation accuracy after every epoch.

    ``dataloaders`` maps ``"train"`` and ``"validation"`` to ``(inputs, labels)`` tensors.
    ``checkpoint`` decides when to save and whether to stop; without one, nothing is saved.
    """
    device = choose_device()
    x_train, y_train = (t.to(device) for t in dataloaders["train"])
    x_val, y_val = (t.to(device) for t in dataloaders["validation"])

    torch.manual_seed(seed)
    model = model.to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(lr_decay_epochs), gamma=lr_decay_factor)
    loss_fn = nn.CrossEntropyLoss()

    loop = ResumableLoop(checkpoint, epochs, desc="train")
    history = []
    if loop.resumed is not None:
        model.load_state_dict(loop.resumed["model"])
        optimizer.load_state_dict(loop.resumed["optimizer"])
        scheduler.load_state_dict(loop.resumed["scheduler"])
        history = list(loop.resumed["history"])
        loop.restore_rng()

    t0 = time.monotonic()
    for epoch in loop:
        model.train()
        order = epoch_order(len(x_train), seed, epoch, device)
        total_loss, batches = 0.0, 0
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            total_loss += loss.item()
            batches += 1
        scheduler.step()
        val_acc = accuracy(model, x_val, y_val, batch_size)
        history.append({"epoch": epoch + 1, "train_loss": total_loss / max(batches, 1), "val_accuracy": val_acc})
        loop.end_epoch(
            epoch + 1,
            lambda: {
                "history": history,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
            },
            loss=f"{history[-1]['train_loss']:.3f}",
            val=f"{val_acc:.3f}",
        )
    loop.close()

    final_val = history[-1]["val_accuracy"] if history else accuracy(model, x_val, y_val, batch_size)
    return TrainingResult(
        score=final_val,
        output={
            "metric": "validation_accuracy",
            "epochs": epochs,
            "resumed_from_epoch": loop.start_epoch,
            "history": history,
            "train_seconds_this_run": round(time.monotonic() - t0, 3),
        },
        state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()},
    )
