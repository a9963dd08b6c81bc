"""Adapters between maflow transforms and ``torch.distributions`` transforms (and so Pyro's)."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import constraints
from torch.distributions import transforms as torch_transforms

from maflow.transforms.base import Transform

__all__ = ["TorchTransform", "MaflowTransform"]


class TorchTransform(torch_transforms.Transform):
    r"""Presents a maflow transform as a ``torch.distributions.Transform`` on vectors.

    ``torch.distributions`` maps base samples to data, so calling this adapter runs the
    maflow transform's ``inverse`` (the generative direction) and ``.inv`` its ``forward``.
    The log|det| of a call is kept, so ``TransformedDistribution.rsample`` followed by
    ``log_prob`` of the same sample costs no extra pass. Wrapped in
    ``TransformedDistribution(base, [TorchTransform(flow.transform)])`` a maflow flow gives
    the same ``log_prob`` as the flow itself.

    Arguments:
        transform: A :class:`maflow.transforms.Transform`.
        context: A fixed context for a conditional transform.

    Example:
        >>> import torch
        >>> from torch.distributions import Independent, Normal, TransformedDistribution
        >>> from maflow.models import MAF
        >>> flow = MAF(2, num_layers=2, hidden_features=8).eval()
        >>> base = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)
        >>> d = TransformedDistribution(base, [TorchTransform(flow.transform)])
        >>> x = torch.randn(4, 2)
        >>> torch.allclose(d.log_prob(x), flow.log_prob(x), atol=1e-5)
        True
    """

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, transform: Transform, context: Tensor | None = None, cache_size: int = 1):
        super().__init__(cache_size=cache_size)
        self.transform = transform
        self.context = context
        self._last: tuple[Tensor, Tensor, Tensor] | None = None

    def __eq__(self, other) -> bool:
        return isinstance(other, TorchTransform) and other.transform is self.transform

    def _call(self, x: Tensor) -> Tensor:
        y, logabsdet = self.transform.inverse(x, self.context)
        self._last = (x, y, logabsdet)
        return y

    def _inverse(self, y: Tensor) -> Tensor:
        x, logabsdet = self.transform(y, self.context)
        self._last = (x, y, -logabsdet)
        return x

    def log_abs_det_jacobian(self, x: Tensor, y: Tensor) -> Tensor:
        if self._last is not None and self._last[0] is x and self._last[1] is y:
            return self._last[2]
        return -self.transform(y, self.context)[1]


class MaflowTransform(Transform):
    r"""Presents a ``torch.distributions.Transform`` (or a Pyro one) as a maflow transform.

    The torch transform maps base to data, so it is this transform's ``inverse`` (the
    generative direction); ``forward`` runs its ``.inv``. Element-wise torch transforms
    (``event_dim == 0``) have their log|det| summed over the last dimension.

    Example:
        >>> import torch
        >>> from torch.distributions.transforms import AffineTransform
        >>> t = MaflowTransform(AffineTransform(1.0, 2.0))
        >>> t(torch.tensor([[3.0, 5.0]]))  # density direction: (y - 1) / 2
        (tensor([[1., 2.]]), tensor([-1.3863]))
    """

    def __init__(self, transform: torch_transforms.Transform):
        super().__init__()
        self.torch_transform = transform

    def _summed(self, logabsdet: Tensor, like: Tensor) -> Tensor:
        if self.torch_transform.event_dim == 0:
            return logabsdet.expand_as(like).sum(-1)
        return logabsdet

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        u = self.torch_transform.inv(x)
        return u, -self._summed(self.torch_transform.log_abs_det_jacobian(u, x), x)

    def inverse(self, u: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = self.torch_transform(u)
        return x, self._summed(self.torch_transform.log_abs_det_jacobian(u, x), u)
