"""The Monkey Predictor: VGG-19-BN up to conv3_1, one Gaussian readout per session, elu + 1."""

from __future__ import annotations

import copy
import warnings

import torch
from neuralpredictors.layers.readouts import FullGaussian2d
from torch import nn
from torch.nn import functional as F

from ..data.dataloaders import Dataloaders
from .data_info import builder_view
from .vgg import CONV3_1, conv3_1_channels, init_weights, vgg_features


class NeuralPredictor(nn.Module):
    """``forward(images, session)`` -> predicted spike counts (batch, units of that session)."""

    def __init__(self, core: nn.Module, readouts: dict[str, nn.Module], image_mean: float, image_std: float):
        super().__init__()
        self.core = core
        self.readouts = nn.ModuleDict(readouts)
        self.register_buffer("image_mean", torch.tensor(float(image_mean)))
        self.register_buffer("image_std", torch.tensor(float(image_std)))

    def standardise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (batch, h, w) or float (batch, 1, h, w) pixels in [0, 255] -> standardised input."""
        if images.dim() == 3:
            images = images[:, None]
        return (images.float() / 255.0 - self.image_mean) / self.image_std

    def forward(self, images: torch.Tensor, session: str) -> torch.Tensor:
        features = self.core(self.standardise(images))
        return F.elu(self.readouts[session](features)) + 1.0

    def predict_session(self, images: torch.Tensor, session: str) -> torch.Tensor:
        """Raw pixels in, the session's predicted spike counts out (what every neural model offers)."""
        return self(images, session)

    def regularizer(self, session: str) -> torch.Tensor:
        return self.readouts[session].regularizer()


def build_monkey_predictor(
    dataloaders: Dataloaders,
    seed: int,
    width: float = 1.0,
    init_mu_range: float = 0.3,
    init_sigma: float = 0.1,
    gauss_type: str = "full",
    feature_reg_weight: float = 0.0,
) -> NeuralPredictor:
    """Core up to conv3_1 with ``width`` times VGG-19's channels; readouts sized from the data.

    ``dataloaders`` (:class:`~pipeline.data.dataloaders.NeuralData` or its DataInfo) gives
    ``image_px``, ``image_mean``/``image_std`` (pixels in [0, 1]) and, per session, the mean
    training response of each unit (the readout biases start there).
    """
    data = builder_view(dataloaders)
    torch.manual_seed(seed)
    core = vgg_features(width=width, in_channels=1, upto=CONV3_1)
    init_weights(core)
    return NeuralPredictor(core, _readouts(data, conv3_1_channels(width), init_mu_range, init_sigma, gauss_type, feature_reg_weight),
                           data.image_mean, data.image_std)


def build_oracle_readout(
    dataloaders: Dataloaders,
    seed: int,
    init_mu_range: float = 0.3,
    init_sigma: float = 0.1,
    gauss_type: str = "full",
    feature_reg_weight: float = 0.0,
    classifier: nn.Module | None = None,
    image_mean: float | None = None,
    image_std: float | None = None,
) -> NeuralPredictor:
    """Gaussian readouts on a trained classifier's conv3_1 block (the frozen Oracle's).

    The core is a copy of ``classifier.features[:17]``; inputs are standardised with the
    classifier's own pixel statistics (``image_mean``/``image_std``), not the recordings'.
    """
    if classifier is None or image_mean is None or image_std is None:
        raise ValueError("build_oracle_readout needs the trained classifier and its pixel statistics")
    data = builder_view(dataloaders)
    torch.manual_seed(seed)
    core = copy.deepcopy(classifier.features[:CONV3_1])
    channels = [m for m in core if isinstance(m, nn.Conv2d)][-1].out_channels
    return NeuralPredictor(core, _readouts(data, channels, init_mu_range, init_sigma, gauss_type, feature_reg_weight),
                           image_mean, image_std)


def _readouts(data: Dataloaders, channels: int, init_mu_range, init_sigma, gauss_type, feature_reg_weight) -> dict[str, nn.Module]:
    px = int(data.image_px)
    grid = px // 4  # two max-pools before conv3_1
    readouts = {}
    for session, mean_response in data.mean_responses.items():
        mean_response = torch.as_tensor(mean_response, dtype=torch.float32)
        with warnings.catch_warnings():
            # it warns that its bias starts at 0; the bias is set from the mean response below
            warnings.filterwarnings("ignore", message="Readout is NOT initialized")
            readout = FullGaussian2d(
                in_shape=(channels, grid, grid),
                outdims=len(mean_response),
                bias=True,
                init_mu_range=init_mu_range,
                init_sigma=init_sigma,
                gauss_type=gauss_type,
                feature_reg_weight=feature_reg_weight,
            )
        with torch.no_grad():
            # elu(b) + 1 = mean response at the start (for mean >= 1: b = mean - 1; else log)
            readout.bias.copy_(torch.where(mean_response >= 1, mean_response - 1, torch.log(mean_response.clamp_min(1e-3))))
        readouts[session] = readout
    return readouts
