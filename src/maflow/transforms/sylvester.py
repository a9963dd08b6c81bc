r"""Sylvester normalizing flows: :math:`f(z) = z + Q R \tanh(\tilde R Q^\top z + b)`."""

from __future__ import annotations

import torch
from torch import Tensor

from maflow.transforms.residual import AmortisedParameters, GenerativeOnly

__all__ = ["Sylvester", "SYLVESTER_KINDS"]

SYLVESTER_KINDS = ("orthogonal", "householder", "triangular")


class Sylvester(GenerativeOnly):
    r"""A Sylvester flow step, :math:`f(z) = z + Q R \tanh(\tilde R Q^\top z + b)`.

    :math:`R` and :math:`\tilde R` are upper triangular (``M x M``) with diagonals in
    :math:`(-1, 1)` (tanh), so :math:`r_{ii} \tilde r_{ii} > -1` and the step is invertible;
    :math:`\log|\det J_f| = \sum_i \log|1 + r_{ii} \tilde r_{ii} \tanh'(\hat z_i)|`. The ``M``
    orthonormal columns of :math:`Q` come from a QR decomposition (``"orthogonal"``, ``M <= D``),
    a product of Householder reflections (``"householder"``, ``M = D``), or are the identity or
    the reversal (``"triangular"``, ``M = D``). Like the planar flow, it has no closed-form
    inverse: only the generative direction (``inverse``) runs.

    References:
        | Sylvester Normalizing Flows for Variational Inference (van den Berg et al., 2018)
        | https://arxiv.org/abs/1803.05649

    Arguments:
        features: Number of dimensions D.
        kind: ``"orthogonal"``, ``"householder"`` or ``"triangular"``.
        num_vectors: M for ``"orthogonal"`` (default D); the number of reflections for
            ``"householder"`` (default D).
        reverse: For ``"triangular"``: use the reversal instead of the identity as Q (alternate
            it between steps, as the paper does).
        context_features: Compute every parameter from a context (amortised); ``None``: free.

    Example:
        >>> step = Sylvester(4, kind="householder", num_vectors=2, context_features=3)
        >>> z, logabsdet = step.inverse(torch.randn(5, 4), torch.randn(5, 3))
        >>> z.shape, logabsdet.shape
        (torch.Size([5, 4]), torch.Size([5]))
    """

    def __init__(
        self,
        features: int,
        kind: str = "orthogonal",
        num_vectors: int | None = None,
        reverse: bool = False,
        context_features: int | None = None,
    ):
        super().__init__()
        if kind not in SYLVESTER_KINDS:
            raise ValueError(f"unknown Sylvester kind {kind!r}: use one of {SYLVESTER_KINDS}")
        num_vectors = features if num_vectors is None else int(num_vectors)
        if not 1 <= num_vectors <= (features if kind == "orthogonal" else 10 * features):
            raise ValueError(f"num_vectors must be in 1..{features} for {kind}, got {num_vectors}")
        self.features, self.kind, self.reverse = features, kind, reverse
        self.num_vectors = num_vectors
        self.hidden = num_vectors if kind == "orthogonal" else features
        q_count = {"orthogonal": features * num_vectors, "householder": num_vectors * features}.get(kind, 0)
        self.q_count = q_count
        self.params = AmortisedParameters(q_count + 2 * self.hidden**2 + self.hidden, context_features)
        if kind == "orthogonal":  # start Q near a well-conditioned matrix, not a random small one
            with torch.no_grad():
                target = self.params.linear.bias if context_features else self.params.free
                target[:q_count] += torch.eye(features, num_vectors).reshape(-1)

    def _q(self, raw: Tensor) -> Tensor:
        """``(batch, D, M)`` orthonormal columns."""
        batch, d = raw.shape[0], self.features
        if self.kind == "orthogonal":
            return torch.linalg.qr(raw.reshape(batch, d, self.num_vectors))[0]
        if self.kind == "householder":
            q = torch.eye(d, dtype=raw.dtype, device=raw.device).expand(batch, d, d)
            for v in raw.reshape(batch, self.num_vectors, d).unbind(1):
                v = v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)
                q = q - 2 * (q @ v.unsqueeze(-1)) * v.unsqueeze(-2)
            return q
        eye = torch.eye(d, dtype=raw.dtype, device=raw.device)
        return (eye.flip(0) if self.reverse else eye).expand(batch, d, d)

    def _triangular(self, raw: Tensor) -> tuple[Tensor, Tensor]:
        """An upper-triangular matrix with its diagonal in (-1, 1), and that diagonal."""
        m = self.hidden
        square = raw.reshape(-1, m, m)
        diagonal = torch.tanh(square.diagonal(dim1=-2, dim2=-1))
        return square.triu(1) + torch.diag_embed(diagonal), diagonal

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        params = self.params(context, z.shape[0])
        m2 = self.hidden**2
        q = self._q(params[:, : self.q_count])
        r, r_diagonal = self._triangular(params[:, self.q_count : self.q_count + m2])
        r_tilde, r_tilde_diagonal = self._triangular(params[:, self.q_count + m2 : self.q_count + 2 * m2])
        bias = params[:, self.q_count + 2 * m2 :]
        pre = (r_tilde @ (q.transpose(-1, -2) @ z.unsqueeze(-1))).squeeze(-1) + bias
        activation = torch.tanh(pre)
        y = z + (q @ (r @ activation.unsqueeze(-1))).squeeze(-1)
        logabsdet = torch.log((1 + r_diagonal * r_tilde_diagonal * (1 - activation**2)).abs()).sum(-1)
        return y, logabsdet
