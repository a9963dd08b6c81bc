"""Invertible transforms returning ``(output, log|det J|)``."""

from maflow.transforms.actnorm import ActNorm
from maflow.transforms.autoregressive import MaskedAffineAutoregressive, MaskedAutoregressive
from maflow.transforms.base import CompositeTransform, InverseTransform, Transform
from maflow.transforms.batchnorm import BatchNorm, recompute_batchnorm_statistics
from maflow.transforms.coupling import (
    AdditiveCoupling,
    AffineCoupling,
    MapCoupling,
    alternating_mask,
    half_mask,
)
from maflow.transforms.elementwise import (
    Affine,
    ElementwiseMap,
    Gated,
    Inverted,
    RationalQuadraticSpline,
    Shift,
)
from maflow.transforms.iaf import InverseAutoregressive
from maflow.transforms.linear import InvertibleLinear, LULinear
from maflow.transforms.naf import DeepSigmoid, MaskedNAF
from maflow.transforms.nsf import MaskedRQSAutoregressive, RQSCoupling
from maflow.transforms.permutation import Permutation, RandomPermutation, ReversePermutation
from maflow.transforms.residual import Planar, Radial
from maflow.transforms.sylvester import Sylvester

__all__ = [
    "ActNorm",
    "Affine",
    "Planar",
    "Radial",
    "Sylvester",
    "DeepSigmoid",
    "MaskedNAF",
    "ElementwiseMap",
    "Gated",
    "Inverted",
    "MaskedAutoregressive",
    "RationalQuadraticSpline",
    "Shift",
    "AdditiveCoupling",
    "AffineCoupling",
    "InverseAutoregressive",
    "InvertibleLinear",
    "LULinear",
    "MaskedRQSAutoregressive",
    "Permutation",
    "MapCoupling",
    "RQSCoupling",
    "RandomPermutation",
    "ReversePermutation",
    "alternating_mask",
    "half_mask",
    "BatchNorm",
    "CompositeTransform",
    "InverseTransform",
    "MaskedAffineAutoregressive",
    "Transform",
    "recompute_batchnorm_statistics",
]
