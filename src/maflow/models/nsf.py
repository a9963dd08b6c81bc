"""Neural spline flows: rational-quadratic spline layers between invertible linear maps."""

from __future__ import annotations

from typing import Any

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
from maflow.models.realnvp import coupling_mask
from maflow.transforms.base import CompositeTransform, Transform
from maflow.transforms.linear import mixing_layer
from maflow.transforms.nsf import MaskedRQSAutoregressive, RQSCoupling

__all__ = ["NSF", "mixing_layer"]


class NSF(Flow):
    r"""Neural spline flow: [linear, rational-quadratic spline] x K, a final linear, N(0, I) base.

    Each spline layer is autoregressive (``kind="autoregressive"``, a MADE gives each
    dimension's K bins) or coupling (``kind="coupling"``, an MLP on the other half); it is
    the identity outside ``[-B, B]``. As in the paper's experiments, the linear layers are
    a random permutation followed by an identity-initialised LU map, and the spline layers
    start at the identity too.

    References:
        | Neural Spline Flows (Durkan et al., 2019)
        | https://arxiv.org/abs/1906.04032

    Arguments:
        features: Number of inputs D (>= 2 for coupling).
        num_layers: Number of spline layers K.
        hidden_features, num_hidden_layers, activation: Each layer's network.
        context_features: Size of the context vector of a conditional flow.
        kind: ``"autoregressive"`` or ``"coupling"``.
        num_bins, tail_bound: Bins per spline and the bound B.
        linear: The mixing layer between steps (see :func:`mixing_layer`).
        mask: Coupling mask, ``"half"`` or ``"alternate"`` (coupling only).
        identity_init: Start every spline and LU layer at the identity.
        weight_init: The networks' hidden-layer initialisation: ``"torch"`` (``nn.Linear``'s
            default) or ``"maf"`` (the MAF code's :math:`\mathcal{N}(0, 1)/\sqrt{n_{in} + 1}`).
            ``None`` means ``"torch"``, which learned faster on the held-out benchmark for both
            kinds (docs/quality_zoo.md; before, coupling layers used ``"maf"`` until 02a7c75
            and autoregressive ones until the fourth round of docs/decisions.md).
        seed: Seed of permutations and random initialisations.
        **made_options: Any other argument of :class:`maflow.nn.MADE` (autoregressive); of
            those, ``dropout`` also for coupling layers (their :class:`~maflow.nn.MLP`'s).

    Example:
        >>> import torch
        >>> flow = NSF(3, num_layers=2, hidden_features=16, num_bins=4).eval()
        >>> flow.log_prob(flow.sample((5,))).shape
        torch.Size([5])
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 5,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        kind: str = "autoregressive",
        num_bins: int = 8,
        tail_bound: float = 3.0,
        linear: str = "lu",
        mask: str = "half",
        activation: str = "relu",
        identity_init: bool = True,
        weight_init: str | None = None,
        seed: int = 0,
        **made_options,
    ):
        weight_init = weight_init or "torch"
        config = constructor_config(locals())
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if kind not in ("autoregressive", "coupling"):
            raise ValueError(f"unknown kind {kind!r}: use autoregressive or coupling")
        not_for_coupling = sorted(set(made_options) - {"dropout"}) if kind == "coupling" else []
        if not_for_coupling:
            raise TypeError(
                f"unexpected arguments {not_for_coupling} (MADE options need kind='autoregressive')"
            )
        spline: dict[str, Any] = dict(
            num_bins=num_bins, tail_bound=tail_bound, identity_init=identity_init, weight_init=weight_init
        )
        transforms: list[Transform] = []
        for layer in range(num_layers):
            transforms += mixing_layer(linear, features, seed + layer, identity_init)
            if kind == "autoregressive":
                transforms.append(
                    MaskedRQSAutoregressive(
                        features,
                        hidden_features=hidden_features,
                        num_hidden_layers=num_hidden_layers,
                        context_features=context_features,
                        activation=activation,
                        seed=seed + layer,
                        **spline,
                        **made_options,
                    )
                )
            else:
                transforms.append(
                    RQSCoupling(
                        coupling_mask(mask, features, layer),
                        hidden_features=hidden_features,
                        num_hidden_layers=num_hidden_layers,
                        context_features=context_features,
                        activation=activation,
                        **spline,
                        **made_options,  # dropout only
                    )
                )
        transforms += mixing_layer(linear, features, seed + num_layers, identity_init)
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config
