"""Data-parallel training across processes: torchrun setup, rank helpers, sharded batches, synced batch norm."""

from __future__ import annotations

import os
import warnings
from datetime import timedelta

import torch
from torch import Tensor, nn
from torch import distributed as dist

__all__ = [
    "init_from_env",
    "is_distributed",
    "rank",
    "world_size",
    "is_main_process",
    "rank_batches",
    "shard",
    "enable_batchnorm_sync",
    "all_reduce_sum",
    "DataParallelLoss",
    "data_parallel_loss",
    "barrier",
    "cleanup",
]


def init_from_env(backend: str | None = None, timeout_minutes: float = 30.0) -> bool:
    """Joins the process group described by torchrun's variables; ``False`` when not launched so.

    ``torchrun --nproc-per-node N ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR`` and ``MASTER_PORT``. The backend is ``nccl`` when CUDA is available
    (each process takes GPU ``LOCAL_RANK``), else ``gloo``. A world of one process is not
    distributed: nothing is initialised.
    """
    if dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    if not dist.is_available():
        raise RuntimeError("this PyTorch build has no torch.distributed: run a single process")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend, timeout=timedelta(minutes=timeout_minutes))
    return True


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0 (or a single process): the one that writes checkpoints, logs and results."""
    return rank() == 0


def barrier() -> None:
    """Waits for every rank (nothing to wait for alone)."""
    if is_distributed():
        dist.barrier()


def cleanup() -> None:
    """Leaves the process group once every rank has got here (call it on success only).

    The barrier matters: a gloo rank whose peer has already closed its sockets can abort
    with "terminate called without an active exception" instead of exiting cleanly.
    """
    if dist.is_available() and dist.is_initialized():
        if dist.get_world_size() > 1:
            dist.barrier()
        dist.destroy_process_group()


def shard(batch: Tensor, rank_: int | None = None, world: int | None = None) -> Tensor:
    """This rank's contiguous part of a global batch (sizes differ by at most one row)."""
    rank_ = rank() if rank_ is None else rank_
    world = world_size() if world is None else world
    if len(batch) < world:
        raise ValueError(f"a batch of {len(batch)} rows cannot feed {world} processes: use a larger batch")
    return batch.tensor_split(world)[rank_]


def rank_batches(
    num_examples: int,
    global_batch: int,
    generator: torch.Generator,
    rank_: int | None = None,
    world: int | None = None,
) -> list[Tensor]:
    """This rank's index batches of one epoch: the single-process order, each batch split by rank.

    Every rank draws the same permutation from an identically seeded ``generator`` (as
    :func:`maflow.train.loop.epoch_batches` does), splits it into global batches, and keeps
    its part of each, so the union over ranks of step ``t`` is exactly step ``t`` of a
    single-process run at batch size ``global_batch``.

    Example:
        >>> parts = [rank_batches(10, 4, torch.Generator().manual_seed(0), r, 2) for r in range(2)]
        >>> whole = torch.randperm(10, generator=torch.Generator().manual_seed(0)).split(4)
        >>> all(torch.equal(torch.cat([parts[0][i], parts[1][i]]), whole[i]) for i in range(3))
        True
    """
    permutation = torch.randperm(num_examples, generator=generator)
    return [shard(batch, rank_, world) for batch in permutation.split(global_batch)]


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Differentiable sum over ranks (its backward sums the gradients over ranks); identity alone."""
    if not is_distributed():
        return tensor
    from torch.distributed.nn.functional import all_reduce

    with warnings.catch_warnings():  # deprecated in favour of a private API; still supported
        warnings.simplefilter("ignore", FutureWarning)
        return all_reduce(tensor, op=dist.ReduceOp.SUM)


def enable_batchnorm_sync(module: nn.Module, enabled: bool = True) -> int:
    """Makes every :class:`maflow.transforms.BatchNorm` in ``module`` use statistics over all ranks.

    In training mode each synced layer all-reduces its batch sums (differentiably), so the
    normalisation, its gradient and the running averages are those of the global batch;
    every rank must then run the layer's forward the same number of times. Returns the
    number of layers changed.
    """
    from maflow.transforms.batchnorm import BatchNorm

    layers = [m for m in module.modules() if isinstance(m, BatchNorm)]
    for layer in layers:
        layer.sync_statistics = enabled
    return len(layers)


class DataParallelLoss(nn.Module):
    """The mean loss of a global batch split over ranks, as a module that DDP can wrap.

    ``forward(local_batch, global_size)`` returns ``sum(per-example loss) * world / global_size``:
    DistributedDataParallel averages gradients over ranks, so the result is the gradient
    of the mean over the global batch even when ranks hold different numbers of rows.

    Arguments:
        model: Has ``log_prob(x)``; the per-example loss is ``-log_prob``.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, batch: Tensor, global_size: int) -> Tensor:
        return -self.model.log_prob(batch).sum() * (world_size() / global_size)


def data_parallel_loss(model: nn.Module, **ddp_options):
    """``loss_fn(model, global_batch)`` for :class:`maflow.train.loop.Trainer` under torchrun.

    Syncs the model's batch norms across ranks, wraps :class:`DataParallelLoss` in
    DistributedDataParallel (which also broadcasts rank 0's initial weights), and feeds each
    rank its shard of the global batch that every rank draws identically.
    """
    from torch.nn.parallel import DistributedDataParallel

    enable_batchnorm_sync(model)
    ddp = DistributedDataParallel(DataParallelLoss(model), **ddp_options)

    def loss_fn(_model: nn.Module, batch: Tensor) -> Tensor:
        return ddp(shard(batch), len(batch))

    return loss_fn
