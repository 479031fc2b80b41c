"""VGG-19 with batch norm in torchvision's layout, 1 input channel and a width multiplier.

With the full layout, ``features[14]`` is conv3_1 and ``features[:17]`` (conv3_1, BN, ReLU)
is the block shared between classification and neural prediction: 256 x 16 x 16 at a
64 x 64 input. The classifier readout is fully convolutional (1x1 convolutions and a global
max pool) so that any input size works.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.models.vgg import cfgs

from ..data.dataloaders import Dataloaders
from .data_info import builder_view

# torchvision's configuration "E" (VGG-19): channels per conv, "M" for max-pool
VGG19 = cfgs["E"]
CONV3_1 = 17  # features[:17] ends with conv3_1's ReLU


def scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


def vgg_features(width: float = 1.0, in_channels: int = 1, upto: int | None = None) -> nn.Sequential:
    """VGG-19-BN ``features`` (conv, BN, ReLU per entry; max-pool per "M"), cut at ``upto`` modules."""
    layers: list[nn.Module] = []
    channels = in_channels
    for entry in VGG19:
        if entry == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            out = scaled(entry, width)
            layers += [nn.Conv2d(channels, out, kernel_size=3, padding=1), nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            channels = out
    features = nn.Sequential(*layers)
    return features[:upto] if upto is not None else features


def conv3_1_channels(width: float = 1.0) -> int:
    return scaled(256, width)


def init_weights(module: nn.Module) -> None:
    """torchvision's VGG initialisation."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


class VGGClassifier(nn.Module):
    """VGG-19-BN ``features`` and the paper's fully convolutional readout.

    Readout: 1x1 conv 512->4096, ReLU, dropout 0.5; 1x1 conv 4096->4096, ReLU, dropout 0.5;
    1x1 conv -> classes; global max pool. Input: standardised (batch, 1, h, w), any h, w.
    """

    def __init__(self, n_classes: int, width: float = 1.0, hidden: int = 4096, dropout: float = 0.5, in_channels: int = 1):
        super().__init__()
        self.features = vgg_features(width=width, in_channels=in_channels)
        channels, hidden = scaled(512, width), scaled(hidden, width)
        self.readout = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(hidden, hidden, kernel_size=1), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Conv2d(hidden, n_classes, kernel_size=1),
        )
        init_weights(self)
        self._init_readout()

    def _init_readout(self) -> None:
        # hidden 1x1 convolutions as the other ReLU convolutions; the last one small, so the
        # global max pool does not begin with huge logits
        init_weights(self.readout)
        last = self.readout[-1]
        nn.init.normal_(last.weight, 0, 0.01)
        nn.init.zeros_(last.bias)

    def reinitialise_after_shared_block(self) -> None:
        """Fresh weights for everything above conv3_1 (the Oracle's second stage)."""
        init_weights(self.features[CONV3_1:])
        self._init_readout()
        for module in list(self.features[CONV3_1:]) + list(self.readout):
            if isinstance(module, nn.BatchNorm2d):
                module.reset_running_stats()

    def shared_block(self, x: torch.Tensor) -> torch.Tensor:
        """conv3_1 activations (after its BN and ReLU): the block shared with neural prediction."""
        return self.features[:CONV3_1](x)

    def forward_with_shared_block(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, conv3_1 activations) from one pass: each batch norm sees the batch once."""
        shared = self.features[:CONV3_1](x)
        # conv3_2 does not write into its input, so ``shared`` survives the in-place ReLUs above it
        return torch.amax(self.readout(self.features[CONV3_1:](shared)), dim=(2, 3)), shared

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(self.readout(self.features(x)), dim=(2, 3))


def build_vgg_classifier(dataloaders: Dataloaders, seed: int, width: float = 1.0, dropout: float = 0.5) -> VGGClassifier:
    """The registry's builder: the number of classes comes from the data (or its DataInfo)."""
    data = builder_view(dataloaders)
    torch.manual_seed(seed)
    return VGGClassifier(int(data.n_classes), width=width, dropout=dropout)
