"""Invertible transforms returning ``(output, log|det J|)``."""

from maflow.transforms.autoregressive import MaskedAffineAutoregressive
from maflow.transforms.base import CompositeTransform, InverseTransform, Transform
from maflow.transforms.batchnorm import BatchNorm, recompute_batchnorm_statistics

__all__ = [
    "BatchNorm",
    "CompositeTransform",
    "InverseTransform",
    "MaskedAffineAutoregressive",
    "Transform",
    "recompute_batchnorm_statistics",
]
