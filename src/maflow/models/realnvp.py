"""Coupling flows: Real NVP (the MAF paper's baseline) and NICE."""

from __future__ import annotations

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
from maflow.transforms.actnorm import ActNorm
from maflow.transforms.base import CompositeTransform, Transform
from maflow.transforms.batchnorm import BatchNorm
from maflow.transforms.coupling import AdditiveCoupling, AffineCoupling, alternating_mask, half_mask

__all__ = ["RealNVP", "NICE", "coupling_mask"]

_MASKS = {"alternate": alternating_mask, "half": half_mask}


def coupling_mask(kind: str, features: int, layer: int):
    """The transformed-dimension mask of layer ``layer``: parity alternates between layers."""
    if kind not in _MASKS:
        raise ValueError(f"unknown mask {kind!r}: use alternate or half")
    if features < 2:
        raise ValueError(f"a coupling flow needs at least 2 features, got {features}")
    return _MASKS[kind](features, layer % 2)


class RealNVP(Flow):
    r"""Real NVP: affine coupling layers with alternating masks, batch norm, N(0, I) base.

    The defaults are the MAF paper's baseline (as the MAF authors' code): masks alternate
    between even and odd dimensions (``mask="alternate"``) and flip every layer; separate
    scale (tanh) and shift (ReLU) nets; a batch-norm layer after every coupling layer.
    ``mask="half"`` with ``activation="leaky_relu"`` gives the half-split coupling that
    janosh/torch-mnf calls RNVP. A context, if any, is concatenated to the nets' inputs.

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of inputs D (>= 2).
        num_layers: Number of coupling layers (5 or 10 in the MAF paper).
        hidden_features, num_hidden_layers: Sizes of the scale and shift nets.
        context_features: Size of the context vector of a conditional flow.
        mask: ``"alternate"`` (even/odd dimensions) or ``"half"`` (first/second half).
        scale_activation, shift_activation: Hidden activations of the two nets.
        batch_norm: Whether a batch-norm layer follows every coupling layer.
        scale_bound, max_log_scale: Bound on the log-scale (see :class:`AffineCoupling`).

    Example:
        >>> import torch
        >>> flow = RealNVP(4, num_layers=2, hidden_features=16).eval()
        >>> flow.log_prob(flow.sample((3,))).shape
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 5,
        hidden_features=512,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        mask: str = "alternate",
        scale_activation: str = "tanh",
        shift_activation: str = "relu",
        batch_norm: bool = True,
        scale_bound: str = "soft",
        max_log_scale: float = 10.0,
    ):
        config = constructor_config(locals())
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        transforms: list[Transform] = []
        for layer in range(num_layers):
            transforms.append(
                AffineCoupling(
                    coupling_mask(mask, features, layer),
                    hidden_features=hidden_features,
                    num_hidden_layers=num_hidden_layers,
                    context_features=context_features,
                    scale_activation=scale_activation,
                    shift_activation=shift_activation,
                    scale_bound=scale_bound,
                    max_log_scale=max_log_scale,
                )
            )
            if batch_norm:
                transforms.append(BatchNorm(features))
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config


class NICE(Flow):
    r"""NICE: additive (volume-preserving) coupling layers, then a learned diagonal scaling.

    References:
        | NICE: Non-linear Independent Components Estimation (Dinh et al., 2014)
        | https://arxiv.org/abs/1410.8516

    Arguments:
        features: Number of inputs D (>= 2).
        num_layers: Number of additive coupling layers (4 in the NICE paper).
        hidden_features, num_hidden_layers, activation: The shift nets.
        context_features: Size of the context vector of a conditional flow.
        mask: ``"half"`` or ``"alternate"``; parity flips every layer.

    Example:
        >>> import torch
        >>> flow = NICE(2, num_layers=4, hidden_features=16)
        >>> flow.log_prob(torch.zeros(3, 2)).shape
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 4,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        mask: str = "half",
        activation: str = "relu",
    ):
        config = constructor_config(locals())
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        transforms: list[Transform] = [
            AdditiveCoupling(
                coupling_mask(mask, features, layer),
                hidden_features=hidden_features,
                num_hidden_layers=num_hidden_layers,
                context_features=context_features,
                activation=activation,
            )
            for layer in range(num_layers)
        ]
        transforms.append(ActNorm(features, data_init=False))  # NICE's diagonal scaling layer
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config
