"""LeNet-5 classifiers for 28x28 images: the MNF Bayesian one and the plain one of janosh/torch-mnf."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from maflow.models.mnf.layers import MNFConv2d, MNFLayer, MNFLinear

__all__ = ["MNFLeNet", "LeNet", "CLASSIFIERS", "build_classifier", "num_parameters"]


def num_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class _Classifier(nn.Module):
    net: nn.Sequential

    def forward(self, x: Tensor) -> Tensor:
        """Log-probabilities over classes; ``x`` is (batch, 784) or (batch, 1, 28, 28)."""
        if x.dim() == 2:
            x = x.view(-1, 1, 28, 28)
        return torch.log_softmax(self.net(x), dim=-1)

    def kl_divergence(self) -> Tensor:
        """Sum of the layers' KL bounds (zero for a network without Bayesian layers)."""
        total = torch.zeros((), device=next(self.parameters()).device)
        for module in self.modules():
            if isinstance(module, MNFLayer):
                total = total + module.kl_divergence()
        return total

    @property
    def is_bayesian(self) -> bool:
        return any(isinstance(module, MNFLayer) for module in self.modules())


class MNFLeNet(_Classifier):
    """LeNet-5 with MNF layers: conv 20 and 50 (5x5, max-pool 2), dense 800-50-10; 696,950 parameters.

    Every forward pass draws fresh weights (one z and local noise per example), so repeating an
    input S times in one batch gives S posterior samples.

    References:
        Louizos and Welling, "Multiplicative Normalizing Flows for Variational Bayesian Neural
        Networks", ICML 2017, arXiv:1703.01961 (the layout is janosh/torch-mnf's; the authors'
        AMLab-Amsterdam/MNF_VBNN has a dense layer of 500: ``dense_features=500``).

    Arguments:
        num_classes: outputs (10).
        dense_features: width of the dense hidden layer (800-``dense_features``-10).
        num_flows_q, num_flows_r, hidden_features, mask_mode, max_std: passed to every MNF
            layer (``hidden_features`` is the width of the flows' networks, ``max_std`` the
            authors' forward-pass cap on the weights' standard deviation).

    Example:
        >>> import torch
        >>> model = MNFLeNet()
        >>> num_parameters(model)
        696950
        >>> model(torch.rand(2, 784)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        num_classes: int = 10,
        num_flows_q: int = 2,
        num_flows_r: int = 2,
        hidden_features: int = 50,
        mask_mode: str = "fixed",
        dense_features: int = 50,
        max_std: float | None = None,
    ):
        super().__init__()
        options: dict[str, Any] = dict(
            num_flows_q=num_flows_q,
            num_flows_r=num_flows_r,
            hidden_features=hidden_features,
            mask_mode=mask_mode,
            max_std=max_std,
        )
        self.net = nn.Sequential(
            MNFConv2d(1, 20, 5, **options),
            nn.ReLU(),
            nn.MaxPool2d(2),
            MNFConv2d(20, 50, 5, **options),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            MNFLinear(800, dense_features, **options),
            nn.ReLU(),
            MNFLinear(dense_features, num_classes, **options),
        )


class LeNet(_Classifier):
    """A plain LeNet-5: conv 32 and 48 (5x5, max-pool 2), dense 768-256-84-10; 258,582 parameters.

    References:
        LeCun et al., "Gradient-based learning applied to document recognition", 1998 (the layout
        is janosh/torch-mnf's baseline).

    Arguments:
        num_classes: outputs (10).

    Example:
        >>> import torch
        >>> model = LeNet()
        >>> num_parameters(model)
        258582
        >>> torch.allclose(model(torch.rand(2, 784)).exp().sum(-1), torch.ones(2))
        True
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 48, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(768, 256),
            nn.ReLU(),
            nn.Linear(256, 84),
            nn.ReLU(),
            nn.Linear(84, num_classes),
        )


CLASSIFIERS = {"mnf-lenet": MNFLeNet, "lenet": LeNet}


def build_classifier(name: str, **options) -> _Classifier:
    """Builds ``"mnf-lenet"`` or ``"lenet"``; ``options`` go to the constructor.

    Example:
        >>> type(build_classifier("lenet")).__name__
        'LeNet'
    """
    from maflow.errors import ConfigError

    if name not in CLASSIFIERS:
        raise ConfigError(f"unknown classifier {name!r}: choose one of {', '.join(CLASSIFIERS)}")
    try:
        return CLASSIFIERS[name](**options)
    except TypeError as error:
        raise ConfigError(f"classifier {name!r}: {error}") from None
