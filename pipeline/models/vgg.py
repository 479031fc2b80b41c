"""VGG-19 with batch norm in torchvision's layout, 1 input channel and a width multiplier.

With the full layout, ``features[14]`` is conv3_1 and ``features[:17]`` (conv3_1, BN, ReLU)
is the block shared between classification and neural prediction: 256 x 16 x 16 at a
64 x 64 input. The classifier readout is fully convolutional (1x1 convolutions and a global
max pool) so that any input size works.
"""

from __future__ import annotations

from torch import nn

# torchvision's configuration "E" (VGG-19): channels per conv, "M" for max-pool
VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
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
