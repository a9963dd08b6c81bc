"""Neural network building blocks: masked layers and MADE."""

from maflow.nn.fast_sampling import made_inverse, naive_inverse
from maflow.nn.made import MADE
from maflow.nn.masked import MaskedLinear, WeightNormMaskedLinear

__all__ = ["MADE", "MaskedLinear", "WeightNormMaskedLinear", "made_inverse", "naive_inverse"]
