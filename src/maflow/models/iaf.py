"""Inverse autoregressive flow as a density model: fast sampling, D passes per density."""

from __future__ import annotations

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config, layer_orders
from maflow.transforms.base import CompositeTransform
from maflow.transforms.iaf import InverseAutoregressive

__all__ = ["IAF"]


class IAF(Flow):
    r"""A stack of gated IAF steps, orders reversed between steps, N(0, I) base.

    Sampling and ``rsample_and_log_prob`` take one MADE pass per step; ``log_prob`` of a
    given point inverts every step, D passes each. That makes it the flow of choice for
    variational posteriors and a slow one for density estimation on data.

    References:
        | Improved Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        features: Number of dimensions D.
        num_layers: Number of IAF steps.
        context_features: Size of the context vector of a conditional flow.
        order: ``"alternate"`` (natural, reversed, ...) or ``"random"`` (seeded per step).
        gated, gate_bias: See :class:`maflow.transforms.InverseAutoregressive`.
        seed: Seed of random orders.
        **made_options: Any argument of :class:`maflow.nn.MADE`, for every step
            (``hidden_features``: 64 by default, ``num_hidden_layers``, ``activation``, ...).

    Example:
        >>> import torch
        >>> flow = IAF(3, num_layers=2, hidden_features=16)
        >>> x, log_prob = flow.rsample_and_log_prob((4,))
        >>> torch.allclose(flow.log_prob(x), log_prob, atol=1e-4)
        True
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 5,
        context_features: int | None = None,
        order: str = "alternate",
        gated: bool = True,
        gate_bias: float | None = None,
        seed: int = 0,
        **made_options,
    ):
        made_options.setdefault("hidden_features", 64)
        config = constructor_config(locals())
        transforms = [
            InverseAutoregressive(
                features,
                gated=gated,
                gate_bias=gate_bias,
                context_features=context_features,
                order=layer_order,
                seed=seed + layer,
                **made_options,
            )
            for layer, layer_order in enumerate(layer_orders(order, num_layers))
        ]
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config
