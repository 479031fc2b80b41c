"""The batched on-device augmentation against a torchvision PIL per-image pipeline, and
against the training step rate of the demo classifier, measured side by side.

Run: ``.venv/bin/python bench/data_path.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.device import choose_device  # noqa: E402
from pipeline.images.augment import augment  # noqa: E402
from pipeline.models.vgg import VGGClassifier  # noqa: E402

N, BATCH = 2048, 128


def _rate(fn, images: int, repeats: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return images / best


def main() -> dict:
    from PIL import Image
    from torchvision import transforms

    device = choose_device()
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (N, 64, 64), dtype=np.uint8)
    on_device = torch.from_numpy(pixels).to(device)
    generator = torch.Generator().manual_seed(0)

    def batched():
        for start in range(0, N, BATCH):
            augment(on_device[start : start + BATCH], 0.45, 0.22, generator)
        if device.type == "cuda":
            torch.cuda.synchronize()

    pil = transforms.Compose([
        transforms.RandomCrop(64, padding=4), transforms.RandomHorizontalFlip(), transforms.RandomRotation(15),
        transforms.ToTensor(), transforms.Normalize([0.45], [0.22]),
    ])
    images = [Image.fromarray(p, mode="L") for p in pixels]

    def per_image():
        for start in range(0, N, BATCH):
            torch.stack([pil(img) for img in images[start : start + BATCH]]).to(device)

    model = VGGClassifier(10, width=0.125).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    labels = torch.randint(0, 10, (BATCH,), device=device)
    batch = augment(on_device[:BATCH], 0.45, 0.22, generator)

    def train_steps(steps=4):
        for _ in range(steps):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(batch), labels).backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    batched_rate = _rate(batched, N)
    pil_rate = _rate(per_image, N)
    train_rate = _rate(train_steps, 4 * BATCH, repeats=2)
    result = {
        "device": str(device),
        "batched_augment_img_s": round(batched_rate),
        "pil_per_image_img_s": round(pil_rate),
        "train_step_img_s (VGG-19-BN width 0.125)": round(train_rate),
        "batched_over_pil": round(batched_rate / pil_rate, 2),
        "batched_over_training": round(batched_rate / train_rate, 2),
    }
    print(json.dumps({"data_path": result}))
    return result


if __name__ == "__main__":
    main()
