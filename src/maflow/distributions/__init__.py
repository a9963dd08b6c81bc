"""Base densities and flows as distributions."""

from maflow.distributions.diagonal import DiagonalNormal
from maflow.distributions.flow import Flow, FlowDistribution, set_default_validate_args
from maflow.distributions.interop import MaflowTransform, TorchTransform
from maflow.distributions.made_mog import MADEMoG
from maflow.distributions.mixture import MixtureOfGaussians
from maflow.distributions.normal import StandardNormal

__all__ = [
    "DiagonalNormal",
    "Flow",
    "FlowDistribution",
    "MADEMoG",
    "MaflowTransform",
    "MixtureOfGaussians",
    "StandardNormal",
    "TorchTransform",
    "set_default_validate_args",
]
