"""MADE MoG and MAF MoG: mixture-of-Gaussian autoregressive densities, alone or under a MAF."""

from __future__ import annotations

import torch

from maflow.distributions.flow import Flow
from maflow.distributions.made_mog import MADEMoG
from maflow.models.config import constructor_config
from maflow.models.maf import MAF
from maflow.transforms.autoregressive import MaskedAffineAutoregressive
from maflow.transforms.base import CompositeTransform

__all__ = ["MADEMoGFlow", "MAFMoG"]


class MADEMoGFlow(Flow):
    r"""The MAF paper's "MADE MoG": a :class:`maflow.distributions.MADEMoG` density as a flow with no transform.

    Wrapping the density as a :class:`maflow.distributions.Flow` (identity transform) gives
    it the same interface as every other model (``log_prob``, ``sample``, ``flow(context)``).

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of dimensions D.
        hidden_features, num_hidden_layers, num_components, context_features, order,
            hidden_degrees, activation, scale_bound, max_log_scale, seed: Passed to
            :class:`maflow.distributions.MADEMoG`.

    Example:
        >>> model = MADEMoGFlow(3, hidden_features=16, num_components=2)
        >>> model.log_prob(model.sample((4,))).shape
        torch.Size([4])
    """

    def __init__(
        self,
        features: int,
        hidden_features=512,
        num_hidden_layers: int = 2,
        num_components: int = 10,
        context_features: int | None = None,
        order="natural",
        hidden_degrees: str = "sequential",
        activation: str = "relu",
        scale_bound: str = "clamp",
        max_log_scale: float = 10.0,
        seed: int = 0,
    ):
        config = constructor_config(locals())
        base = MADEMoG(
            features,
            hidden_features,
            num_hidden_layers,
            num_components=num_components,
            context_features=context_features,
            order=order,
            hidden_degrees=hidden_degrees,
            activation=activation,
            scale_bound=scale_bound,
            max_log_scale=max_log_scale,
            seed=seed,
        )
        super().__init__(CompositeTransform([]), base, features, context_features)
        self.config = config


class MAFMoG(Flow):
    r"""The MAF paper's "MAF MoG": a MAF whose base density is a MADE MoG.

    The MADE MoG generates the dimensions in the reverse of the order of the last MAF
    layer (as the MAF authors' code), and in a conditional model every MADE, the MoG one
    included, receives the context.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of dimensions D.
        num_layers: Number of MAF layers (5 in the paper).
        num_components: Components per dimension of the MADE MoG (10 in the paper).
        **maf_options: Every other argument of :class:`maflow.models.MAF` (hidden sizes,
            context, order, batch norm, scale bound, seed, ...), also used for the MADE MoG
            where it applies.

    Example:
        >>> flow = MAFMoG(3, num_layers=2, hidden_features=16, num_components=2).eval()
        >>> flow.log_prob(flow.sample((4,))).shape
        torch.Size([4])
    """

    def __init__(self, features: int, num_layers: int = 5, num_components: int = 10, **maf_options):
        maf = MAF(features, num_layers=num_layers, **maf_options)
        last = [t for t in maf.transform.transforms if isinstance(t, MaskedAffineAutoregressive)][-1]
        reversed_degrees = last.made.input_degrees.flip(0)
        base = MADEMoG(
            features,
            maf.config["hidden_features"],
            maf.config["num_hidden_layers"],
            num_components=num_components,
            context_features=maf.config["context_features"],
            order=torch.argsort(reversed_degrees).tolist(),  # generation order with these degrees
            hidden_degrees=maf.config["hidden_degrees"],
            activation=maf.config["activation"],
            scale_bound=maf.config["scale_bound"],
            max_log_scale=maf.config["max_log_scale"],
            seed=maf.config["seed"] + num_layers,
        )
        super().__init__(maf.transform, base, features, maf.config["context_features"])
        self.config = dict(maf.config, num_components=num_components)
