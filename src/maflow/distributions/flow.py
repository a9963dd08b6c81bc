"""A normalising flow: a base density pushed through an invertible transform."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, constraints

from maflow.transforms.base import Transform

__all__ = [
    "Flow",
    "FlowDistribution",
    "set_default_validate_args",
    "set_value_validation",
    "values_unchecked",
]


class Flow(nn.Module):
    r"""Density :math:`p(x) = p_u(f(x)) |\det J_f(x)|` with ``f = transform``.

    ``log_prob`` costs one pass of ``transform``; ``sample`` and ``rsample`` draw from the
    base and run ``transform.inverse``. Inputs may have any number of leading batch
    dimensions. Calling the flow, ``flow(context)``, returns a genuine
    :class:`torch.distributions.Distribution`.

    Arguments:
        transform: The normalising transform, data to noise.
        base: A base density module (see :class:`maflow.distributions.StandardNormal`).
        features: The event size D.
        context_features: Size of the context vector, or ``None`` for an unconditional flow.
        validate_args: Whether ``log_prob`` checks its inputs' values for NaN and Inf (and maps
            overflowing densities to -inf), as ``torch.distributions`` does; ``None`` follows
            :func:`set_default_validate_args`. Also an attribute: ``flow.validate_args = False``.
            The value check reads a flag back from the device (a host synchronisation) and is
            skipped under ``torch.compile``; shapes, dtypes and devices are always checked.

    Example:
        >>> from maflow.distributions import StandardNormal
        >>> from maflow.transforms import BatchNorm
        >>> flow = Flow(BatchNorm(2), StandardNormal(2), features=2).eval()
        >>> flow.log_prob(torch.zeros(4, 2)).shape
        torch.Size([4])
        >>> flow.sample((3,)).shape
        torch.Size([3, 2])
    """

    # False for flows without a closed-form inverse (planar, radial, Sylvester): their log_prob
    # raises maflow.errors.NoDensityError; rsample_and_log_prob still gives exact densities.
    density_of_outside_points = True

    def __init__(
        self,
        transform: Transform,
        base: nn.Module,
        features: int,
        context_features: int | None = None,
        validate_args: bool | None = None,
    ):
        super().__init__()
        self.transform = transform
        self.base = base
        self.features = features
        self.context_features = context_features
        self.validate_args = validate_args

    # Not a constructor argument of the models (it is no part of their architecture, so
    # checkpoints do not store it): set it on the instance, or switch the default.
    _validate_args: bool | None = None

    @property
    def validate_args(self) -> bool:
        """Whether values are checked: this flow's setting, else the process-wide default."""
        return _DEFAULT_VALIDATE_ARGS if self._validate_args is None else self._validate_args

    @validate_args.setter
    def validate_args(self, value: bool | None) -> None:
        self._validate_args = None if value is None else bool(value)

    def _check(self, x: Tensor, context: Tensor | None) -> None:
        _check_tensor(self, x, "inputs")
        if x.dim() < 1 or x.shape[-1] != self.features:
            raise ValueError(f"expected inputs of shape (..., {self.features}), got {tuple(x.shape)}")
        if x.numel() == 0:
            raise ValueError(f"got an empty batch of inputs, shape {tuple(x.shape)}: pass at least one row")
        if self.context_features is None:
            if context is not None:
                raise ValueError("this flow is unconditional: do not pass a context")
        elif context is None:
            raise ValueError(
                f"this flow is conditional: pass a context of shape (..., {self.context_features})"
            )
        else:
            _check_tensor(self, context, "context")
            if context.dim() < 1 or context.shape[-1] != self.context_features:
                raise ValueError(
                    f"expected a context of shape (..., {self.context_features}), got {tuple(context.shape)}"
                )
            batch = x.shape[:-1]
            if context.dim() - 1 > len(batch) or any(
                c not in (1, b) for c, b in zip(reversed(context.shape[:-1]), reversed(batch))
            ):
                raise ValueError(
                    f"a context of shape {tuple(context.shape)} does not broadcast to the inputs' batch "
                    f"shape {tuple(batch)}: give one context row per input row, or one for all"
                )

    def log_prob(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        self._check(x, context)
        batch_shape = x.shape[:-1]
        x = x.reshape(-1, self.features)
        if context is not None:
            context = context.expand(*batch_shape, context.shape[-1]).reshape(-1, context.shape[-1])
        u, logabsdet = self.transform(x, context)
        return _overflow_is_minus_inf(self, self.base.log_prob(u, context) + logabsdet).reshape(batch_shape)

    def rsample_and_log_prob(self, sample_shape=(), context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Reparameterised samples and their log-density, from one inverse pass."""
        sample_shape = torch.Size(sample_shape)
        if context is not None:
            # A stand-in input of the context's batch shape: the checks are the same as log_prob's.
            _check_tensor(self, context, "context")
            self._check(context.new_zeros((*context.shape[:-1], self.features)), context)
            batch_shape = sample_shape + context.shape[:-1]
            context = context.expand(*batch_shape, context.shape[-1]).reshape(-1, context.shape[-1])
        else:
            batch_shape = sample_shape
        u = (
            self.base.sample((batch_shape.numel(),), None)
            if context is None
            else self.base.sample((), context)
        )
        log_base = self.base.log_prob(u, context)
        x, logabsdet = self.transform.inverse(u, context)
        return x.reshape(*batch_shape, self.features), (log_base - logabsdet).reshape(batch_shape)

    def rsample(self, sample_shape=(), context: Tensor | None = None) -> Tensor:
        return self.rsample_and_log_prob(sample_shape, context)[0]

    @torch.no_grad()
    def sample(self, sample_shape=(), context: Tensor | None = None) -> Tensor:
        return self.rsample(sample_shape, context)

    def forward(self, context: Tensor | None = None) -> FlowDistribution:
        return FlowDistribution(self, context)


_DEFAULT_VALIDATE_ARGS = True


def set_default_validate_args(value: bool) -> None:
    """Switches the NaN/Inf check of flows' inputs on or off by default (on to start with).

    The counterpart of :func:`torch.distributions.Distribution.set_default_validate_args`
    for flows whose ``validate_args`` is unset. The check reads one boolean back from the
    device on every call: a host synchronisation on a GPU. Shapes, dtypes and devices are
    always checked (they cost nothing); under ``torch.compile`` the value check is skipped,
    so a compiled ``log_prob`` is one graph. A trainer that validated its data once runs its
    steps without it.

    Example:
        >>> from maflow.models import MAF
        >>> flow = MAF(2, num_layers=1, hidden_features=4).eval()
        >>> set_default_validate_args(False); flow.validate_args
        False
        >>> set_default_validate_args(True); flow.validate_args
        True
    """
    global _DEFAULT_VALIDATE_ARGS
    _DEFAULT_VALIDATE_ARGS = bool(value)


set_value_validation = set_default_validate_args  # the earlier name, kept for existing code


@contextlib.contextmanager
def values_unchecked(module: nn.Module) -> Iterator[None]:
    """Within the block, no flow inside ``module`` checks its inputs' values (no host sync).

    For a trainer that validated its data once: each step then runs without reading a
    flag back from the device. Each flow's own setting is restored afterwards.

    Example:
        >>> from maflow.models import MAF
        >>> flow = MAF(2, num_layers=1, hidden_features=4).eval()
        >>> with values_unchecked(flow):
        ...     torch.isnan(flow.log_prob(torch.full((1, 2), float("nan")))).all()
        tensor(True)
        >>> flow.validate_args
        True
    """
    flows = [m for m in module.modules() if isinstance(m, Flow)]
    saved = [flow._validate_args for flow in flows]
    for flow in flows:
        flow.validate_args = False
    try:
        yield
    finally:
        for flow, value in zip(flows, saved):
            flow._validate_args = value


def _validates(flow: nn.Module) -> bool:
    return bool(getattr(flow, "validate_args", _DEFAULT_VALIDATE_ARGS)) and not torch.compiler.is_compiling()


def _overflow_is_minus_inf(flow: nn.Module, log_prob: Tensor) -> Tensor:
    """NaN log-densities of finite inputs under finite weights are overflow: the density underflows, so -inf.

    A finite input far out in the tails (|x| ~ 1e38 in float32, or an IAF's recovered noise
    growing without bound) overflows inside the transform and turns into NaN; its true
    log-density is below anything representable. A model with NaN or infinite weights keeps
    its NaN. Checked only with value validation on (it reads a flag back from the device).
    """
    if not _validates(flow) or not bool(torch.isnan(log_prob).any()):
        return log_prob
    if not all(bool(torch.isfinite(p).all()) for p in flow.parameters()):
        return log_prob
    return log_prob.masked_fill(torch.isnan(log_prob), -torch.inf)


def _check_tensor(flow: nn.Module, x, name: str) -> None:
    """A floating-point tensor of the flow's dtype and device, without NaN or Inf."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(
            f"expected {name} as a floating-point tensor, got {type(x).__name__} {getattr(x, 'dtype', '')}"
        )
    tensors = itertools.chain(flow.parameters(), flow.buffers())
    reference = next((t for t in tensors if t.is_floating_point()), None)
    if reference is not None and x.dtype != reference.dtype:
        raise TypeError(
            f"{name} are {x.dtype} but the flow is {reference.dtype}: convert one of them "
            f"(x.to({reference.dtype}) or flow.to({x.dtype}))"
        )
    if reference is not None and x.device != reference.device:
        raise ValueError(f"{name} are on {x.device} but the flow is on {reference.device}: move one of them")
    if not _validates(flow) or x.device.type == "meta":
        return
    if not bool(torch.isfinite(x).all()):
        bad = ~torch.isfinite(x.reshape(-1, x.shape[-1]) if x.dim() else x.reshape(1, 1))
        rows = bad.any(-1).nonzero().flatten()
        raise ValueError(
            f"{name} contain {int(bad.sum())} NaN or infinite value(s) in {rows.numel()} row(s) "
            f"(first at row {int(rows[0])}): clean the data first"
        )


class FlowDistribution(Distribution):
    """A :class:`Flow` (with its context, if any) as a ``torch.distributions`` object.

    Its batch shape is the context's (one distribution per context row) or ``batch_shape``
    for an unconditional flow (independent copies, as ``expand`` makes).

    Example:
        >>> from maflow.models import MAF
        >>> d = MAF(2, num_layers=1, hidden_features=8).eval()().expand((3,))
        >>> d.batch_shape, d.sample((5,)).shape, d.log_prob(torch.zeros(3, 2)).shape
        (torch.Size([3]), torch.Size([5, 3, 2]), torch.Size([3]))
    """

    arg_constraints = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: Flow, context: Tensor | None = None, batch_shape=None):
        self.flow = flow
        self.context = context
        if batch_shape is None:
            batch_shape = context.shape[:-1] if context is not None else torch.Size()
        super().__init__(torch.Size(batch_shape), torch.Size([flow.features]), validate_args=False)

    def expand(self, batch_shape, _instance=None) -> FlowDistribution:
        batch_shape = torch.Size(batch_shape)
        context = self.context
        if context is not None:
            context = context.expand(*batch_shape, context.shape[-1])
        return FlowDistribution(self.flow, context, batch_shape)

    def _unconditional_shape(self, sample_shape) -> torch.Size:
        return torch.Size(sample_shape) + (self.batch_shape if self.context is None else torch.Size())

    def log_prob(self, value: Tensor) -> Tensor:
        return self.flow.log_prob(value, self.context)

    def rsample(self, sample_shape=torch.Size()) -> Tensor:
        return self.flow.rsample(self._unconditional_shape(sample_shape), self.context)

    def rsample_and_log_prob(self, sample_shape=torch.Size()) -> tuple[Tensor, Tensor]:
        return self.flow.rsample_and_log_prob(self._unconditional_shape(sample_shape), self.context)
