"""The index batches of one training epoch, drawn from a seeded generator."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["epoch_batches", "full_batches", "batches_on", "take_batch"]


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


def batches_on(batches: list[Tensor], device: torch.device) -> list[Tensor]:
    """The index batches of an epoch on ``device``, moved in one copy.

    Indexing data on a GPU with indices on the CPU copies the indices at every batch, and that
    copy waits for the GPU to finish its queued work (a host synchronisation per step); one copy
    of the whole epoch's indices avoids it. On the CPU the batches come back unchanged.

    Example:
        >>> batches = epoch_batches(5, 2, torch.Generator().manual_seed(0))
        >>> batches_on(batches, torch.device("cpu")) is batches
        True
    """
    if device.type == "cpu" or not batches:
        return batches
    sizes = [len(batch) for batch in batches]
    return list(torch.cat(batches).to(device, non_blocking=True).split(sizes))


def take_batch(data: Tensor, index: Tensor, device: torch.device | None = None) -> Tensor:
    """The rows ``index`` of ``data``, on ``device`` (``None``: where ``data`` are).

    For data kept on the CPU while training runs on a GPU
    (:func:`maflow.run.device.place_training_data`), the rows are gathered into pinned memory
    and copied without waiting, so the copy overlaps the GPU's work on the previous step.

    Example:
        >>> data = torch.arange(10.0).reshape(5, 2)
        >>> take_batch(data, torch.tensor([3, 0]))
        tensor([[6., 7.],
                [0., 1.]])
    """
    if device is None or _same_device(data.device, device):
        return data[index]
    pin = device.type == "cuda" and torch.cuda.is_available()
    rows = torch.empty((len(index), *data.shape[1:]), dtype=data.dtype, pin_memory=pin)
    torch.index_select(data, 0, index.to(data.device), out=rows)
    return rows.to(device, non_blocking=pin)


def _same_device(a: torch.device, b: torch.device) -> bool:
    # "cuda" (no index) names the current CUDA device, where a tensor's device says "cuda:0".
    return a == b or (a.type == b.type and (a.index is None or b.index is None))
