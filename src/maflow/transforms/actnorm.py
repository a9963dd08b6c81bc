"""Activation normalisation: a per-dimension affine map initialised from the first batch."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from maflow.transforms.base import Transform

__all__ = ["ActNorm"]


class ActNorm(Transform):
    r"""Elementwise affine map :math:`y = x e^{s} + b` with data-dependent initialisation.

    On the first ``forward`` in training mode, ``s`` and ``b`` are set so that this batch
    comes out with zero mean and unit variance per dimension (Glow's convention:
    :math:`s = -\log \mathrm{std}(x)`, :math:`b = -\mathrm{mean}(x) e^{s}`), and the
    ``initialized`` buffer is set. Because the flag is a buffer, it is saved in the state
    dict: a loaded model is never re-initialised by its next training batch (the bug of
    nflows #4 and normflows PR #2). Unlike batch norm, the map is the same in training and
    evaluation mode. With ``data_init=False`` it is a plain learned elementwise affine map
    starting at the identity (NICE's scaling layer).

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        features: Number of inputs D.
        data_init: Initialise from the first training batch.
        eps: Added to the standard deviation at initialisation.

    Example:
        >>> norm = ActNorm(2)
        >>> y, _ = norm(torch.randn(100, 2) * 5 + 3)  # training mode: initialises
        >>> bool(norm.initialized), torch.allclose(y.mean(0), torch.zeros(2), atol=1e-5)
        (True, True)
    """

    initialized: torch.Tensor

    def __init__(self, features: int, data_init: bool = True, eps: float = 1e-6):
        super().__init__()
        self.features = features
        self.data_init = data_init
        self.eps = eps
        self.log_scale = nn.Parameter(torch.zeros(features))
        self.shift = nn.Parameter(torch.zeros(features))
        self.register_buffer("initialized", torch.tensor(not data_init))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        """Sets the scale and shift so that ``x`` maps to zero mean and unit variance."""
        if x.shape[0] < 2:
            raise ValueError("ActNorm's data-dependent initialisation needs a batch of at least 2 points")
        x = x.reshape(-1, self.features)
        log_scale = -torch.log(x.std(0, unbiased=False) + self.eps)
        self.log_scale.copy_(log_scale)
        self.shift.copy_(-x.mean(0) * torch.exp(log_scale))
        self.initialized.fill_(True)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            self.initialize(x)
        y = x * torch.exp(self.log_scale) + self.shift
        return y, self.log_scale.sum().expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = (y - self.shift) * torch.exp(-self.log_scale)
        return x, -self.log_scale.sum().expand(y.shape[0])
