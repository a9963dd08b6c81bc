"""Flows for variational inference: planar, radial and Sylvester steps on a standard normal base."""

from __future__ import annotations

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
from maflow.transforms.base import CompositeTransform, Transform
from maflow.transforms.residual import Planar, Radial
from maflow.transforms.sylvester import Sylvester

__all__ = ["VariationalFlow", "STEPS"]

STEPS = ("planar", "radial", "sylvester-orthogonal", "sylvester-householder", "sylvester-triangular")


class VariationalFlow(Flow):
    r"""K planar, radial or Sylvester steps on N(0, I): exact densities of its own samples only.

    None of these steps has a closed-form inverse, so ``log_prob`` of an outside point
    raises; ``rsample_and_log_prob`` and ``sample`` work, which is what a variational
    posterior (or a sampler fitted by reverse KL to an unnormalised density) needs.

    References:
        | Variational Inference with Normalizing Flows (Rezende and Mohamed, 2015)
        | https://arxiv.org/abs/1505.05770
        | Sylvester Normalizing Flows for Variational Inference (van den Berg et al., 2018)
        | https://arxiv.org/abs/1803.05649

    Arguments:
        features: Number of dimensions D.
        step: One of ``STEPS``.
        num_layers: Number K of steps.
        context_features: Amortise every step's parameters on a context of this size.
        num_vectors: For Sylvester steps: M (orthogonal) or the number of reflections.

    Example:
        >>> import torch
        >>> flow = VariationalFlow(2, "planar", num_layers=4)
        >>> z, log_q = flow.rsample_and_log_prob((3,))
        >>> z.shape, log_q.shape
        (torch.Size([3, 2]), torch.Size([3]))
    """

    def __init__(
        self,
        features: int,
        step: str = "planar",
        num_layers: int = 8,
        context_features: int | None = None,
        num_vectors: int | None = None,
    ):
        config = constructor_config(locals())
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}: use one of {STEPS}")
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if step == "planar":
            layers: list[Transform] = [Planar(features, context_features) for _ in range(num_layers)]
        elif step == "radial":
            layers = [Radial(features, context_features) for _ in range(num_layers)]
        else:
            kind = step.removeprefix("sylvester-")
            layers = [
                Sylvester(
                    features, kind, num_vectors, reverse=layer % 2 == 1, context_features=context_features
                )
                for layer in range(num_layers)
            ]
        super().__init__(CompositeTransform(layers), StandardNormal(features), features, context_features)
        self.config = config

    density_of_outside_points = False
