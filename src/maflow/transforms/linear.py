"""Invertible linear maps: Glow's 1x1 convolution on vectors and its LU-decomposed form."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from maflow.transforms.base import Transform
from maflow.transforms.permutation import RandomPermutation, ReversePermutation

__all__ = ["InvertibleLinear", "LULinear", "mixing_layer", "random_orthogonal"]


def random_orthogonal(features: int, seed: int = 0) -> Tensor:
    """A seeded random orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    generator = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(features, features, generator=generator, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


class InvertibleLinear(Transform):
    r"""A learned matrix :math:`y = W x`: Glow's invertible 1x1 convolution for a D-vector.

    The log|det| is ``slogdet(W)`` (:math:`O(D^3)`, fine for small D); the inverse solves a
    linear system. Initialised at a random orthogonal matrix (log|det| = 0), as Glow.

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        features: Number of inputs D.
        identity_init: Start at the identity instead of a random rotation.
        seed: Seed of the random orthogonal initialisation.

    Example:
        >>> layer = InvertibleLinear(3)
        >>> x = torch.randn(4, 3)
        >>> torch.allclose(layer.inverse(layer(x)[0])[0], x, atol=1e-5)
        True
    """

    def __init__(self, features: int, identity_init: bool = False, seed: int = 0):
        super().__init__()
        self.features = features
        init = torch.eye(features) if identity_init else random_orthogonal(features, seed)
        self.weight = nn.Parameter(init)

    def _logabsdet(self, batch: int) -> Tensor:
        return torch.linalg.slogdet(self.weight)[1].expand(batch)

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return x @ self.weight.T, self._logabsdet(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x = torch.linalg.solve(self.weight, y.T).T
        return x, -self._logabsdet(y.shape[0])


class LULinear(Transform):
    r"""Linear map :math:`W = P L (U + \mathrm{diag}(\mathrm{sign} \cdot e^{\log|s|}))`, O(D) log|det|.

    ``P`` (a permutation matrix) and the signs of the diagonal are fixed buffers; the strictly
    lower part of the unit-diagonal ``L``, the strictly upper part of ``U`` and ``log|s|`` are
    learned. The log|det| is :math:`\sum \log |s|` and the inverse is two triangular solves.
    Initialised from the LU factors of a random orthogonal matrix (Glow), or at the identity
    (``identity_init=True``, as the neural spline flow experiments).

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        features: Number of inputs D.
        identity_init: Start at the identity.
        seed: Seed of the random orthogonal initialisation.

    Example:
        >>> layer = LULinear(3)
        >>> x = torch.randn(4, 3)
        >>> y, logabsdet = layer(x)
        >>> torch.allclose(logabsdet, torch.linalg.slogdet(layer.weight())[1].expand(4), atol=1e-5)
        True
    """

    permutation: torch.Tensor
    sign: torch.Tensor
    lower_mask: torch.Tensor

    def __init__(self, features: int, identity_init: bool = False, seed: int = 0):
        super().__init__()
        self.features = features
        if identity_init:
            permutation, lower, upper = torch.eye(features), torch.eye(features), torch.eye(features)
        else:
            permutation, lower, upper = torch.linalg.lu(random_orthogonal(features, seed))
        diagonal = torch.diagonal(upper)
        self.register_buffer("permutation", permutation)
        self.register_buffer("sign", torch.sign(diagonal))
        self.register_buffer("lower_mask", torch.tril(torch.ones(features, features), -1))
        self.lower = nn.Parameter(torch.tril(lower, -1))
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_diagonal = nn.Parameter(torch.log(diagonal.abs()))

    def _factors(self) -> tuple[Tensor, Tensor]:
        eye = torch.eye(self.features, dtype=self.lower.dtype, device=self.lower.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign * torch.exp(self.log_diagonal))
        return lower, upper

    def _rows(self) -> Tensor:
        # P as an index: row i of W is row rows[i] of L U (a gather, not a D x D product).
        return self.permutation.argmax(dim=1)

    def weight(self) -> Tensor:
        """The full matrix W (for inspection and tests)."""
        lower, upper = self._factors()
        return (lower @ upper)[self._rows()]

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lower, upper = self._factors()
        if x.shape[0] < self.features:
            # x W^T = ((x U^T) L^T) P^T: two batch x D x D products instead of a D^3 one.
            y = ((x @ upper.T) @ lower.T)[:, self._rows()]
        else:
            y = x @ ((lower @ upper)[self._rows()]).T
        return y, self.log_diagonal.sum().expand(x.shape[0])

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        lower, upper = self._factors()
        # W x = y  <=>  L U x = P^T y; solve column-wise on the transposed batch.
        rhs = y.T[self.permutation.argmax(dim=0)]
        z = torch.linalg.solve_triangular(lower, rhs, upper=False, unitriangular=True)
        x = torch.linalg.solve_triangular(upper, z, upper=True).T
        return x, -self.log_diagonal.sum().expand(y.shape[0])


def mixing_layer(kind: str, features: int, seed: int, identity_init: bool = True) -> list[Transform]:
    """The linear layer(s) placed between flow steps.

    ``"lu"``: a seeded random permutation then an LU linear map (the NSF experiments);
    ``"full"``: a D x D matrix (Glow's 1x1 convolution); ``"permutation"``: a seeded random
    permutation; ``"reverse"``: reverse the order; ``"none"``: nothing.
    """
    if kind == "lu":
        return [RandomPermutation(features, seed), LULinear(features, identity_init=identity_init, seed=seed)]
    if kind == "full":
        return [InvertibleLinear(features, identity_init=identity_init, seed=seed)]
    if kind == "permutation":
        return [RandomPermutation(features, seed)]
    if kind == "reverse":
        return [ReversePermutation(features)]
    if kind == "none":
        return []
    raise ValueError(f"unknown linear layer {kind!r}: use lu, full, permutation, reverse or none")
