"""Base densities and flows as distributions."""

from maflow.distributions.flow import Flow, FlowDistribution
from maflow.distributions.normal import StandardNormal

__all__ = ["Flow", "FlowDistribution", "StandardNormal"]
