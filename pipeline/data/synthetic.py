"""Small synthetic classification data with known structure, for smoke runs and tests."""

from __future__ import annotations

import torch

from .dataloaders import ClassificationData


def gaussian_clusters(
    seed: int,
    n_train: int = 2000,
    n_validation: int = 500,
    n_features: int = 32,
    n_classes: int = 4,
    separation: float = 2.0,
) -> ClassificationData:
    """Points drawn around ``n_classes`` random centres ``separation`` apart (in noise s.d.).

    The centres are fixed by ``seed``; train and validation share them, so a classifier
    can learn the task and validation accuracy measures it.
    """
    if n_classes < 2:
        raise ValueError(f"n_classes={n_classes}: a classification task needs at least 2 classes")
    generator = torch.Generator().manual_seed(int(seed))
    centres = torch.randn(n_classes, n_features, generator=generator)
    centres *= separation / centres.norm(dim=1, keepdim=True).clamp_min(1e-6) * (n_features ** 0.5) / 2

    def draw(n: int):
        labels = torch.randint(0, n_classes, (n,), generator=generator)
        points = centres[labels] + torch.randn(n, n_features, generator=generator) * (n_features ** 0.5) / 2
        return points / (n_features ** 0.5), labels

    return ClassificationData(train=draw(n_train), validation=draw(n_validation), n_classes=n_classes)
