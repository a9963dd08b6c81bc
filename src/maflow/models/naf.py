"""Neural autoregressive flow as a density model."""

from __future__ import annotations

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config, layer_orders
from maflow.transforms.base import CompositeTransform
from maflow.transforms.naf import MaskedNAF

__all__ = ["NAF"]


class NAF(Flow):
    r"""K deep-sigmoidal autoregressive layers, orders reversed between layers, N(0, I) base.

    ``log_prob`` takes one MADE pass per layer; sampling solves each layer's monotone
    maps with a bracketed solver in degree order (see :class:`maflow.transforms.naf.DeepSigmoid`).

    References:
        | Neural Autoregressive Flows (Huang et al., 2018)
        | https://arxiv.org/abs/1804.00779

    Arguments:
        features: Number of dimensions D.
        num_layers: Number K of layers.
        context_features: Size of the context vector of a conditional flow.
        sigmoid_units, num_blocks: Of each layer's sigmoidal map.
        dense: The dense sigmoidal map (DDSF) instead of the deep one (DSF).
        order: ``"alternate"`` (natural, reversed, ...) or ``"random"`` (seeded per layer).
        seed: Seed of random orders and degrees.
        **made_options: Any argument of :class:`maflow.nn.MADE`, for every layer
            (``hidden_features``: 64 by default).

    Example:
        >>> import torch
        >>> flow = NAF(2, num_layers=3, hidden_features=[32, 32], sigmoid_units=4)
        >>> flow.config["hidden_features"], flow.log_prob(torch.randn(6, 2)).shape
        ([32, 32], torch.Size([6]))
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 5,
        context_features: int | None = None,
        sigmoid_units: int = 8,
        num_blocks: int = 1,
        dense: bool = False,
        order: str = "alternate",
        seed: int = 0,
        **made_options,
    ):
        made_options.setdefault("hidden_features", 64)
        config = constructor_config(locals())
        layers = [
            MaskedNAF(
                features,
                sigmoid_units=sigmoid_units,
                num_blocks=num_blocks,
                dense=dense,
                context_features=context_features,
                order=layer_order,
                seed=seed + layer,
                **made_options,
            )
            for layer, layer_order in enumerate(layer_orders(order, num_layers))
        ]
        super().__init__(CompositeTransform(layers), StandardNormal(features), features, context_features)
        self.config = config
