"""The transform interface: invertible maps that return their log-Jacobian."""

from __future__ import annotations

from collections.abc import Iterable

from torch import Tensor, nn

__all__ = ["Transform", "CompositeTransform", "InverseTransform"]


class Transform(nn.Module):
    r"""An invertible map :math:`y = f(x)` with a tractable :math:`\log |\det J_f(x)|`.

    ``forward`` is the normalising direction (data to noise) and ``inverse`` the generative
    one; each returns ``(output, logabsdet)`` with ``logabsdet`` of shape ``(batch,)``, and
    each takes an optional ``context`` tensor for conditional transforms.
    """

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError


class CompositeTransform(Transform):
    """Applies transforms in sequence; log-determinants add up.

    Example:
        >>> import torch
        >>> from maflow.transforms import BatchNorm
        >>> t = CompositeTransform([BatchNorm(3), BatchNorm(3)])
        >>> y, logabsdet = t(torch.randn(8, 3))
        >>> logabsdet.shape
        torch.Size([8])
    """

    def __init__(self, transforms: Iterable[Transform]):
        super().__init__()
        self.transforms = nn.ModuleList(transforms)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = x.new_zeros(x.shape[0])
        for transform in self.transforms:
            x, logabsdet = transform(x, context)
            total = total + logabsdet
        return x, total

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = y.new_zeros(y.shape[0])
        for transform in reversed(self.transforms):
            y, logabsdet = transform.inverse(y, context)
            total = total + logabsdet
        return y, total


class InverseTransform(Transform):
    """Swaps the two directions of a transform (MAF step -> IAF step)."""

    def __init__(self, transform: Transform):
        super().__init__()
        self.transform = transform

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.transform.inverse(x, context)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self.transform(y, context)
