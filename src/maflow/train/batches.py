"""The index batches of one training epoch, drawn from a seeded generator."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["epoch_batches", "full_batches"]


def epoch_batches(num_examples: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Index batches of one epoch from a fresh permutation; the last batch may be smaller.

    The permutation comes only from ``generator``, so saving its state before an epoch
    is enough to replay that epoch's order. A last batch of one row joins the one before
    it: batch norm in training mode needs at least two rows.

    Example:
        >>> [len(b) for b in epoch_batches(7, 3, torch.Generator().manual_seed(0))]
        [3, 4]
    """
    batches = list(torch.randperm(num_examples, generator=generator).split(batch_size))
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [torch.cat(batches[-2:])]
    return batches


def full_batches(num_examples: int, batch_size: int, generator: torch.Generator) -> list[Tensor]:
    """Index batches of one epoch with the incomplete last batch dropped (``drop_last``).

    Example:
        >>> [len(b) for b in full_batches(7, 3, torch.Generator().manual_seed(0))]
        [3, 3]
    """
    permutation = torch.randperm(num_examples, generator=generator)
    return list(permutation[: num_examples // batch_size * batch_size].split(batch_size))
