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

_FLOW_ONLY = ("num_layers", "order", "batch_norm", "batch_norm_placement", "scale", "shift")


class MADEMoGFlow(Flow):
    r"""The MAF paper's "MADE MoG": a :class:`maflow.distributions.MADEMoG` density as a flow with no transform.

    Wrapping the density as a :class:`maflow.distributions.Flow` (identity transform) gives
    it the same interface as every other model (``log_prob``, ``sample``, ``flow(context)``).

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of dimensions D.
        num_components, context_features: As :class:`maflow.distributions.MADEMoG`.
        **made_options: Every other argument of :class:`maflow.distributions.MADEMoG`
            (``hidden_features``, ``order``, ``activation``, ``scale_bound``, ``seed``, ...).

    Example:
        >>> model = MADEMoGFlow(3, hidden_features=16, num_components=2)
        >>> model.log_prob(model.sample((4,))).shape
        torch.Size([4])
    """

    def __init__(
        self, features: int, num_components: int = 10, context_features: int | None = None, **made_options
    ):
        config = constructor_config(locals())
        base = MADEMoG(features, num_components, context_features=context_features, **made_options)
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
        # The MAF paper's map and plain layers: MAF MoG checkpoints carry no map or residual code.
        maf_options.setdefault("scale", "exp")
        maf_options.setdefault("residual", False)
        maf = MAF(features, num_layers=num_layers, **maf_options)
        last = [t for t in maf.transform.transforms if isinstance(t, MaskedAffineAutoregressive)][-1]
        reversed_degrees = last.made.input_degrees.flip(0)
        # Everything but the flow's own layout applies to the MADE MoG too.
        shared = {k: v for k, v in maf.config.items() if k not in _FLOW_ONLY}
        base = MADEMoG(
            num_components=num_components,
            order=torch.argsort(reversed_degrees).tolist(),  # generation order with these degrees
            **dict(shared, seed=maf.config["seed"] + num_layers),
        )
        super().__init__(maf.transform, base, features, maf.config["context_features"])
        self.config = dict(maf.config, num_components=num_components)
