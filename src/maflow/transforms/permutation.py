"""Fixed permutations of the dimensions (log|det| = 0), stored as buffers."""

from __future__ import annotations

import torch
from torch import Tensor

from maflow.transforms.base import Transform

__all__ = ["Permutation", "ReversePermutation", "RandomPermutation"]


class Permutation(Transform):
    """Reorders the dimensions: ``y[..., i] = x[..., permutation[i]]``.

    The permutation and its inverse are buffers, so they are saved with the model.

    Arguments:
        permutation: A permutation of ``range(features)``.

    Example:
        >>> p = Permutation([2, 0, 1])
        >>> p(torch.tensor([[10.0, 11.0, 12.0]]))[0]
        tensor([[12., 10., 11.]])
    """

    permutation: torch.Tensor
    inverse_permutation: torch.Tensor

    def __init__(self, permutation):
        super().__init__()
        permutation = torch.as_tensor(permutation, dtype=torch.long)
        if permutation.dim() != 1 or not torch.equal(
            permutation.sort().values, torch.arange(permutation.numel())
        ):
            raise ValueError(f"not a permutation of range({permutation.numel()}): {permutation.tolist()}")
        self.features = permutation.numel()
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x.index_select(-1, self.permutation), x.new_zeros(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return y.index_select(-1, self.inverse_permutation), y.new_zeros(y.shape[0])


class ReversePermutation(Permutation):
    """Reverses the order of the dimensions.

    Example:
        >>> ReversePermutation(3).permutation
        tensor([2, 1, 0])
    """

    def __init__(self, features: int):
        super().__init__(torch.arange(features - 1, -1, -1))


class RandomPermutation(Permutation):
    """A seeded random permutation (the same seed gives the same permutation everywhere).

    Example:
        >>> torch.equal(RandomPermutation(5, seed=3).permutation, RandomPermutation(5, seed=3).permutation)
        True
    """

    def __init__(self, features: int, seed: int = 0):
        super().__init__(torch.randperm(features, generator=torch.Generator().manual_seed(seed)))
