"""Glow-style flow on vectors: [ActNorm, invertible linear, affine coupling] steps."""

from __future__ import annotations

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
from maflow.transforms.actnorm import ActNorm
from maflow.transforms.base import CompositeTransform, Transform
from maflow.transforms.coupling import AffineCoupling, half_mask
from maflow.transforms.linear import mixing_layer

__all__ = ["Glow"]


class Glow(Flow):
    r"""Glow's step of flow for D-vectors: ActNorm, then an invertible linear map, then an affine coupling.

    The linear map is Glow's 1x1 convolution, which for a vector is a learned D x D matrix
    (``linear="full"``), or its LU-decomposed form (``linear="lu"``, the default); both start
    at a random rotation. The coupling transforms the second half of the dimensions given
    the first (the linear maps mix them between steps). ActNorm initialises from the first
    training batch and keeps that state in buffers. No multi-scale architecture: this is
    the step of flow, for vector data.

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        features: Number of inputs D (>= 2).
        num_layers: Number of steps of flow.
        hidden_features, num_hidden_layers: Sizes of the coupling nets.
        context_features: Size of the context vector of a conditional flow.
        linear: ``"lu"`` or ``"full"``.
        activation: Hidden activation of both coupling nets.
        scale: ``"sigmoid"`` (Glow's :math:`\sigma(h + 2)` factor) or ``"exp"`` (Real NVP's).
        seed: Seed of the random rotations.

    Example:
        >>> import torch
        >>> flow = Glow(4, num_layers=2, hidden_features=16)
        >>> flow.log_prob(torch.randn(8, 4)).shape  # training mode: ActNorm initialises here
        torch.Size([8])
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 3,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        linear: str = "lu",
        activation: str = "relu",
        scale: str = "sigmoid",
        seed: int = 0,
    ):
        config = constructor_config(locals())
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if linear not in ("lu", "full"):
            raise ValueError(f"unknown linear layer {linear!r}: use lu or full")
        if features < 2:
            raise ValueError(f"Glow needs at least 2 features, got {features}")
        transforms: list[Transform] = []
        for layer in range(num_layers):
            transforms.append(ActNorm(features))
            # "lu" without the permutation: LU of a random rotation already carries one in P.
            transforms += mixing_layer(linear, features, seed + layer, identity_init=False)[-1:]
            transforms.append(
                AffineCoupling(
                    half_mask(features),
                    hidden_features=hidden_features,
                    num_hidden_layers=num_hidden_layers,
                    context_features=context_features,
                    scale_activation=activation,
                    shift_activation=activation,
                    scale=scale,
                )
            )
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config
