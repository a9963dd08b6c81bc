"""Batch normalisation as an invertible flow layer."""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch import distributed as dist

from maflow.transforms.base import CompositeTransform, Transform

__all__ = ["BatchNorm", "recompute_batchnorm_statistics"]


def _world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def _sum_over_ranks(tensor: Tensor, differentiable: bool) -> Tensor:
    """Sum over data-parallel ranks; differentiable so that the gradient is that of the global batch."""
    if _world_size() == 1:
        return tensor
    if differentiable:
        from torch.distributed.nn.functional import all_reduce

        with warnings.catch_warnings():  # deprecated in favour of a private API; still supported
            warnings.simplefilter("ignore", FutureWarning)
            return all_reduce(tensor, op=dist.ReduceOp.SUM)
    tensor = tensor.clone()
    dist.all_reduce(tensor)
    return tensor


class BatchNorm(Transform):
    r"""Invertible batch norm :math:`y = e^{\gamma} (x - m) / \sqrt{v + \epsilon} + \beta`.

    In training mode, ``m`` and ``v`` are the minibatch mean and biased variance, and the
    running estimates are updated with ``momentum``: a training-mode density is a statistic
    of the whole batch, so a batch of one row is refused (as ``torch.nn.BatchNorm1d`` does). In evaluation mode and in ``inverse``
    the stored statistics are used, so test-time likelihoods do not depend on batching.
    :func:`recompute_batchnorm_statistics` replaces the stored statistics by those of a
    whole data set, as the MAF authors' code does before every validation. With
    ``sync_statistics = True`` (see :func:`maflow.train.distributed.enable_batchnorm_sync`)
    and a process group of several ranks, the training-mode statistics are those of the
    global batch, all-reduced across ranks like ``torch.nn.SyncBatchNorm``.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of inputs D.
        eps: Added to the variance.
        momentum: Weight of the newest batch in the running estimates.

    Example:
        >>> bn = BatchNorm(3).eval()
        >>> x = torch.randn(5, 3)
        >>> torch.allclose(bn.inverse(bn(x)[0])[0], x, atol=1e-6)
        True
    """

    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.eps = eps
        self.momentum = momentum
        self.log_gamma = nn.Parameter(torch.zeros(features))
        self.beta = nn.Parameter(torch.zeros(features))
        self.register_buffer("running_mean", torch.zeros(features))
        self.register_buffer("running_var", torch.ones(features))
        self.sync_statistics = False

    def _statistics(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if not self.training:
            return self.running_mean, self.running_var
        if x.shape[0] < 2 and not (self.sync_statistics and _world_size() > 1):
            raise ValueError(
                "batch norm in training mode needs at least 2 rows (the statistics of one row are "
                "degenerate): call .eval() to get densities of single points"
            )
        if self.sync_statistics and _world_size() > 1:
            # Two reductions (sum, then centred squares) keep the variance as stable as one process's.
            sums = _sum_over_ranks(torch.cat([x.sum(0), x.new_full((1,), x.shape[0])]), True)
            mean = sums[:-1] / sums[-1]
            var = _sum_over_ranks((x - mean).pow(2).sum(0), True) / sums[-1]
        else:
            var, mean = torch.var_mean(x, 0, correction=0)
        with torch.no_grad():
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(var.detach(), self.momentum)
        return mean, var

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mean, var = self._statistics(x)
        var = var + self.eps
        y = torch.exp(self.log_gamma) * (x - mean) * torch.rsqrt(var) + self.beta
        logabsdet = (self.log_gamma - 0.5 * torch.log(var)).sum()
        return y, logabsdet.expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        var = self.running_var + self.eps
        x = (y - self.beta) * torch.exp(-self.log_gamma) * torch.sqrt(var) + self.running_mean
        logabsdet = -(self.log_gamma - 0.5 * torch.log(var)).sum()
        return x, logabsdet.expand(y.shape[0])

    @torch.no_grad()
    def set_statistics(self, x: Tensor, batch_size: int = 10_000, distributed: bool = False) -> None:
        """Stores the exact mean and (population) variance of ``x``, accumulated in float64.

        With ``distributed=True`` each rank passes its shard of the data and the sums are
        combined across ranks, giving the statistics of the union.
        """
        # The sums live where the layer does; ``x`` may stay elsewhere (pinned CPU rows of a GPU run).
        total = torch.zeros(x.shape[-1], dtype=torch.float64, device=self.running_mean.device)
        for chunk in x.split(batch_size):
            total += chunk.to(total.device).double().sum(0)
        count = float(x.shape[0])
        if distributed:
            total = _sum_over_ranks(torch.cat([total, total.new_full((1,), count)]), False)
            total, count = total[:-1], float(total[-1])
        mean = total / count
        squares = torch.zeros_like(total)
        for chunk in x.split(batch_size):
            squares += (chunk.to(total.device).double() - mean).pow(2).sum(0)
        if distributed:
            squares = _sum_over_ranks(squares, False)
        self.running_mean.copy_(mean)
        self.running_var.copy_(squares / count)


def _leaves(transform: Transform) -> list[Transform]:
    if isinstance(transform, CompositeTransform):
        return [leaf for t in transform.transforms for leaf in _leaves(t)]
    return [transform]


@torch.no_grad()
def recompute_batchnorm_statistics(
    transform: Transform,
    x: Tensor,
    context: Tensor | None = None,
    batch_size: int = 10_000,
    distributed: bool = False,
) -> None:
    """Sets every :class:`BatchNorm` in ``transform`` to the statistics of the whole ``x``.

    Each batch-norm layer gets the exact statistics of its own input when the layers before
    it already use theirs, which is what a single full-batch pass in training mode gives.
    With ``distributed=True`` every rank passes its own shard of the data (all ranks must
    call this together) and the sums are combined across ranks. ``x`` may live on another
    device than ``transform`` (training rows kept in CPU memory for a GPU model): each chunk
    visits the model's device and the activations come back to ``x``'s.
    """
    was_training = transform.training
    transform.eval()
    device = next((t.device for t in (*transform.parameters(), *transform.buffers())), x.device)
    h = x
    for leaf in _leaves(transform):
        if isinstance(leaf, BatchNorm):
            leaf.set_statistics(h, batch_size, distributed)
        contexts = context.split(batch_size) if context is not None else [None] * len(h.split(batch_size))
        h = torch.cat(
            [
                leaf(chunk.to(device), None if c is None else c.to(device))[0].to(x.device)
                for chunk, c in zip(h.split(batch_size), contexts)
            ]
        )
    transform.train(was_training)
