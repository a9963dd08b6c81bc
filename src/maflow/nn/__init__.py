"""Neural network building blocks: masked layers and MADE."""

from maflow.nn.made import MADE
from maflow.nn.masked import MaskedLinear

__all__ = ["MADE", "MaskedLinear"]
