"""Neural autoregressive flow as a density model."""

from __future__ import annotations

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
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
        hidden_features, num_hidden_layers: Each layer's MADE.
        context_features: Size of the context vector of a conditional flow.
        sigmoid_units, num_blocks: Of each layer's deep sigmoidal map.
        order: ``"alternate"`` (natural, reversed, ...) or ``"random"`` (seeded per layer).
        seed: Seed of random orders and degrees.
        **made_options: Any other argument of :class:`maflow.nn.MADE`, for every layer.

    Example:
        >>> import torch
        >>> flow = NAF(3, num_layers=2, hidden_features=16, sigmoid_units=4)
        >>> x, log_prob = flow.rsample_and_log_prob((4,))
        >>> torch.allclose(flow.log_prob(x), log_prob, atol=1e-4)
        True
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 5,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        sigmoid_units: int = 8,
        num_blocks: int = 1,
        order: str = "alternate",
        seed: int = 0,
        **made_options,
    ):
        config = constructor_config(locals())
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if order not in ("alternate", "random"):
            raise ValueError(f"unknown order {order!r}: use alternate or random")
        layers = [
            MaskedNAF(
                features,
                hidden_features=hidden_features,
                num_hidden_layers=num_hidden_layers,
                sigmoid_units=sigmoid_units,
                num_blocks=num_blocks,
                context_features=context_features,
                order=order if order == "random" else ("natural", "reversed")[layer % 2],
                seed=seed + layer,
                **made_options,
            )
            for layer in range(num_layers)
        ]
        super().__init__(CompositeTransform(layers), StandardNormal(features), features, context_features)
        self.config = config
