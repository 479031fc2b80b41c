"""The multi-task network: VGG-19-BN classification and neural prediction sharing conv3_1.

``classifier`` is the Baseline's architecture (features + fully convolutional readout);
``readout`` is one Gaussian readout over all units of the predicted responses, on the
shared block ``classifier.features[:17]``. ``log_sigma_c`` and ``log_sigma_n`` are the
learned observation noises that weigh the two losses (Kendall et al. 2018).
"""

from __future__ import annotations

import warnings

import torch
from neuralpredictors.layers.readouts import FullGaussian2d
from torch import nn
from torch.nn import functional as F

from ..data.dataloaders import Dataloaders
from .data_info import builder_view
from .vgg import VGGClassifier, conv3_1_channels


class MTLNetwork(nn.Module):
    """``forward(x)`` -> class logits; ``neural(x)`` -> responses of all units (``elu + 1``).

    Both take standardised (batch, 1, h, w) input. ``predict_session(images, session)``
    takes raw pixels, standardises them with the classification data's statistics and
    returns the units of one recording session, as the single-task predictors do.
    """

    #: parameters that weight decay must not pull towards 0 (sigma = 1)
    no_weight_decay = ("log_sigma_c", "log_sigma_n")

    def __init__(
        self,
        n_classes: int,
        sessions: list[tuple[str, int]],
        image_mean: float,
        image_std: float,
        image_px: int = 64,
        width: float = 1.0,
        dropout: float = 0.5,
        init_mu_range: float = 0.3,
        init_sigma: float = 0.1,
        gauss_type: str = "full",
    ):
        super().__init__()
        self.classifier = VGGClassifier(n_classes, width=width, dropout=dropout)
        self.sessions = [(str(name), int(n)) for name, n in sessions]
        n_units = sum(n for _, n in self.sessions)
        grid = image_px // 4  # two max-pools before conv3_1
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Readout is NOT initialized")
            self.readout = FullGaussian2d(
                in_shape=(conv3_1_channels(width), grid, grid), outdims=n_units, bias=True,
                init_mu_range=init_mu_range, init_sigma=init_sigma, gauss_type=gauss_type,
            )
        self.log_sigma_c = nn.Parameter(torch.zeros(()))
        self.log_sigma_n = nn.Parameter(torch.zeros(()))
        self.register_buffer("image_mean", torch.tensor(float(image_mean)))
        self.register_buffer("image_std", torch.tensor(float(image_std)))

    @property
    def features(self) -> nn.Sequential:
        return self.classifier.features

    def shared_block(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.shared_block(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def neural(self, x: torch.Tensor) -> torch.Tensor:
        return F.elu(self.readout(self.shared_block(x))) + 1.0

    def session_columns(self, session: str) -> slice:
        start = 0
        for name, n in self.sessions:
            if name == session:
                return slice(start, start + n)
            start += n
        raise KeyError(f"session {session!r} is not among the model's {[s for s, _ in self.sessions]}")

    def predict_session(self, images: torch.Tensor, session: str) -> torch.Tensor:
        if images.dim() == 3:
            images = images[:, None]
        x = (images.float() / 255.0 - self.image_mean) / self.image_std
        return self.neural(x)[:, self.session_columns(session)]


def build_mtl_model(
    dataloaders: Dataloaders,
    seed: int,
    width: float = 1.0,
    dropout: float = 0.5,
    init_mu_range: float = 0.3,
    init_sigma: float = 0.1,
    gauss_type: str = "full",
) -> MTLNetwork:
    """The registry's builder: classes, units and pixel statistics come from the data.

    ``dataloaders`` is :class:`~pipeline.data.dataloaders.MTLData` (image splits and
    responses, with ``response_sessions`` naming their columns) or the model's DataInfo.
    """
    data = builder_view(dataloaders)
    torch.manual_seed(seed)
    model = MTLNetwork(
        int(data.n_classes), data.response_sessions, data.image_mean, data.image_std,
        image_px=int(data.image_px), width=width, dropout=dropout,
        init_mu_range=init_mu_range, init_sigma=init_sigma, gauss_type=gauss_type,
    )
    mean = torch.as_tensor(data.mean_train_response, dtype=torch.float32)
    with torch.no_grad():
        # start at the mean training target: elu(b) + 1 = mean
        model.readout.bias.copy_(torch.where(mean >= 1, mean - 1, torch.log(mean.clamp_min(1e-3))))
    return model
