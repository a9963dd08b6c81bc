"""Linear layer whose weight is multiplied by a fixed binary mask."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

__all__ = ["MaskedLinear", "WeightNormMaskedLinear", "block_cover"]

# Layers smaller than this (out * in) stay dense: a block's call overhead outweighs its saving.
_MIN_BLOCK_AREA = 65_536
# A block costs about as much as this many extra weight entries per call (measured on CPU).
_BLOCK_OVERHEAD = 4_096


def block_cover(mask: Tensor) -> list[tuple[int, int, int, int]] | None:
    """Row blocks ``(row_start, row_stop, col_start, col_stop)`` covering every nonzero of ``mask``.

    MADE masks are staircases when units are in degree order, so the rows of a block need
    only a column interval of the inputs. Blocks are chosen by dynamic programming over row
    boundaries (multiples of a granularity) to minimise the covered area plus a per-block
    overhead. Returns ``None`` when blocking would not save at least a fifth of the work.
    """
    rows, columns = mask.shape
    if rows * columns < _MIN_BLOCK_AREA:
        return None
    nonzero = mask.detach().cpu().numpy() != 0
    any_row = nonzero.any(1)
    first = np.where(any_row, nonzero.argmax(1), columns)
    last = np.where(any_row, columns - nonzero[:, ::-1].argmax(1), 0)
    step = max(16, rows // 64)
    bounds = list(range(0, rows, step)) + [rows]
    count = len(bounds)
    firsts = [int(first[a:b].min()) for a, b in zip(bounds, bounds[1:])]
    lasts = [int(last[a:b].max()) for a, b in zip(bounds, bounds[1:])]
    best = [0.0] + [math.inf] * (count - 1)
    choice = [0] * count
    for stop in range(1, count):
        low, high = columns, 0
        for start in range(stop - 1, -1, -1):  # grow the block upwards from row bounds[stop]
            r0, r1 = bounds[start], bounds[stop]
            low, high = min(low, firsts[start]), max(high, lasts[start])
            cost = best[start] + (r1 - r0) * max(high - low, 0) + _BLOCK_OVERHEAD
            if cost < best[stop]:
                best[stop], choice[stop] = cost, start
    blocks, stop = [], count - 1
    while stop > 0:
        start = choice[stop]
        r0, r1 = bounds[start], bounds[stop]
        low, high = int(first[r0:r1].min()), int(last[r0:r1].max())
        blocks.append((r0, r1, min(low, high), high))
        stop = start
    blocks.reverse()
    area = sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in blocks)
    return blocks if area <= 0.8 * rows * columns else None


class _BlockMaskedLinear(torch.autograd.Function):
    """``x (W * M)^T + b`` computed only on the blocks of :func:`block_cover`; gradients likewise."""

    @staticmethod
    def forward(ctx, x, weight, mask, bias, blocks):
        masked = weight * mask
        flat = x.reshape(-1, x.shape[-1])
        out = flat.new_empty(flat.shape[0], weight.shape[0])
        for r0, r1, c0, c1 in blocks:
            if bias is None:
                torch.mm(flat[:, c0:c1], masked[r0:r1, c0:c1].t(), out=out[:, r0:r1])
            else:
                torch.addmm(bias[r0:r1], flat[:, c0:c1], masked[r0:r1, c0:c1].t(), out=out[:, r0:r1])
        ctx.save_for_backward(flat, masked, mask)
        ctx.blocks, ctx.in_shape, ctx.has_bias = blocks, x.shape, bias is not None
        return out.reshape(*x.shape[:-1], weight.shape[0])

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        flat, masked, mask = ctx.saved_tensors
        grad = grad.reshape(-1, masked.shape[0])
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = grad.new_zeros(flat.shape)
            for r0, r1, c0, c1 in ctx.blocks:
                grad_x[:, c0:c1].addmm_(grad[:, r0:r1], masked[r0:r1, c0:c1])
            grad_x = grad_x.reshape(ctx.in_shape)
        if ctx.needs_input_grad[1]:
            grad_weight = grad.new_zeros(masked.shape)
            for r0, r1, c0, c1 in ctx.blocks:
                grad_weight[r0:r1, c0:c1].addmm_(grad[:, r0:r1].t(), flat[:, c0:c1])
            grad_weight.mul_(mask)
        if ctx.has_bias and ctx.needs_input_grad[3]:
            grad_bias = grad.sum(0)
        return grad_x, grad_weight, None, grad_bias, None


class MaskedLinear(nn.Linear):
    r"""A linear layer :math:`y = (W \odot M) x + b` with a binary mask :math:`M`.

    The mask is a buffer, so it is saved in the state dict and follows ``.to()``. When the
    mask is a large staircase (a MADE's, units in degree order), forward and backward
    multiply only the blocks that hold nonzeros (:func:`block_cover`), about half the
    arithmetic of a dense layer; the result is the same as the dense product.
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

    mask: torch.Tensor

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

    def effective_weight(self) -> Tensor:
        r"""The weight the layer applies: :math:`W \odot M`."""
        return self.weight * self.mask

    def _blocks(self) -> list[tuple[int, int, int, int]] | None:
        # Recomputed whenever the mask changes (set_mask, load_state_dict, .to(), in-place edits).
        key = (self.mask._version, self.mask.data_ptr(), self.mask.shape)
        if getattr(self, "_block_key", None) != key:
            self._block_cache = block_cover(self.mask)
            self._block_key = key
        return self._block_cache

    def forward(self, x: Tensor) -> Tensor:
        if torch.compiler.is_compiling():  # the compiler fuses the dense product itself
            return nn.functional.linear(x, self.weight * self.mask, self.bias)
        blocks = self._blocks()
        if blocks is not None:
            return _BlockMaskedLinear.apply(x, self.weight, self.mask, self.bias, blocks)
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class WeightNormMaskedLinear(MaskedLinear):
    r"""A masked linear layer with weight norm :math:`y = g \, (v \odot M) x / \|v \odot M\| + b`.

    The first forward pass in training mode initialises ``g`` and ``b`` from the data, so
    that every output starts with zero mean and unit variance over that batch.

    References:
        | Weight Normalization (Salimans and Kingma, 2016)
        | https://arxiv.org/abs/1602.07868

    Arguments:
        in_features, out_features, mask: As :class:`MaskedLinear`.

    Example:
        >>> layer = WeightNormMaskedLinear(3, 2, torch.ones(2, 3))
        >>> y = layer(torch.randn(100, 3))
        >>> torch.allclose(y.mean(0), torch.zeros(2), atol=1e-5)
        True
    """

    initialized: torch.Tensor

    def __init__(self, in_features: int, out_features: int, mask: Tensor, bias: bool = True):
        super().__init__(in_features, out_features, mask, bias=True)
        self.log_scale = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _direction(self) -> Tensor:
        weight = self.weight * self.mask
        # Rows that the mask empties entirely stay zero instead of dividing by zero.
        return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def effective_weight(self) -> Tensor:
        return self._direction() * torch.exp(self.log_scale)[:, None]

    def forward(self, x: Tensor) -> Tensor:
        t = nn.functional.linear(x, self._direction())
        if self.training and not self.initialized:
            with torch.no_grad():
                std = t.reshape(-1, t.shape[-1]).std(0) if t.numel() > t.shape[-1] else torch.ones_like(t[0])
                # Rows that see nothing (masked out, or constant inputs) keep unit scale.
                std = torch.where(std > 1e-6, std, torch.ones_like(std))
                self.log_scale.copy_(-torch.log(std))
                self.bias.copy_(-t.reshape(-1, t.shape[-1]).mean(0) / std)
                self.initialized.fill_(True)
        return t * torch.exp(self.log_scale) + self.bias
