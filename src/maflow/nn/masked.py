"""Linear layer whose weight is multiplied by a fixed binary mask."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["MaskedLinear"]


class MaskedLinear(nn.Linear):
    r"""A linear layer :math:`y = (W \odot M) x + b` with a binary mask :math:`M`.

    The mask is a buffer, so it is saved in the state dict and follows ``.to()``.
    Weights are drawn as in the MAF authors' code, :math:`\mathcal{N}(0, 1) / \sqrt{n_{in} + 1}`,
    with zero biases.

    Arguments:
        in_features: Number of inputs.
        out_features: Number of outputs.
        mask: A ``(out_features, in_features)`` tensor of zeros and ones.
        bias: Whether the layer has a bias.

    Example:
        >>> layer = MaskedLinear(3, 2, torch.tensor([[1., 0., 0.], [1., 1., 0.]]))
        >>> layer(torch.randn(5, 3)).shape
        torch.Size([5, 2])
    """

    def __init__(self, in_features: int, out_features: int, mask: Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias)
        self.register_buffer("mask", torch.empty(out_features, in_features))
        self.set_mask(mask)
        with torch.no_grad():
            self.weight.normal_().div_(math.sqrt(in_features + 1))
            if self.bias is not None:
                self.bias.zero_()

    def set_mask(self, mask: Tensor) -> None:
        if mask.shape != self.mask.shape:
            raise ValueError(f"mask has shape {tuple(mask.shape)}, expected {tuple(self.mask.shape)}")
        self.mask.copy_(mask)

    def forward(self, x: Tensor) -> Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)
