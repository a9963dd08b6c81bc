"""Inverse autoregressive flow step: an autoregressive layer run in the sampling direction."""

from __future__ import annotations

import torch
from torch import Tensor

from maflow.transforms.autoregressive import MaskedAutoregressive, _check_inverse_method
from maflow.transforms.elementwise import Affine, ElementwiseMap, Gated, Inverted

__all__ = ["InverseAutoregressive"]


class InverseAutoregressive(MaskedAutoregressive):
    r"""IAF step: noise to data in one MADE pass, :math:`x = \sigma(s) u + (1 - \sigma(s)) m`.

    ``(m, s) = MADE(u)`` is computed on the *noise* ``u``, so ``inverse`` (sampling) takes one
    pass and ``forward`` (the density of an outside point) is sequential: by default it
    computes each MADE unit once in degree order (:func:`maflow.nn.fast_sampling.made_inverse`),
    the arithmetic of one pass; ``density_method = "naive"`` runs the whole MADE once per
    input degree instead. Gated, as the IAF paper's numerically stable update: the bias of
    ``s`` starts at ``gate_bias`` (+2, so :math:`\sigma(s) \approx 0.88`), which keeps each
    step near the identity at initialisation; the log|det| of the sampling direction is
    :math:`\sum_i \log \sigma(s_i)`. With ``gated=False`` the update is the affine
    :math:`x = u e^{\alpha} + m` with a bounded log-scale :math:`\alpha` (the inverse of a
    MAF step whose MADE reads its own output). Any other element-wise map can be given as
    ``map`` (read in the density direction, as for :class:`MaskedAutoregressive`).

    References:
        | Improved Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        features: Number of inputs D.
        gated: Use the gated update (default) or the plain affine one.
        gate_bias: Initial bias of ``s`` (gated) or of :math:`\alpha` (affine, default 0).
        scale_bound, max_log_scale: Bound on :math:`\alpha` when ``gated=False``.
        map: An element-wise map that replaces the gated or affine one.
        **made_options: Passed to :class:`maflow.nn.MADE` (``hidden_features``, 64 by default,
            ``order``, ``context_features``, ``normalization``, ``seed``, ...).

    Example:
        >>> step = InverseAutoregressive(4, hidden_features=16)
        >>> u = torch.randn(10, 4)
        >>> x, logabsdet = step.inverse(u)  # sampling: one MADE pass
        >>> torch.allclose(step(x)[0], u, atol=1e-5)  # density: each unit once, in degree order
        True
    """

    made_defaults = {"hidden_features": 64}

    def __init__(
        self,
        features: int,
        *,
        gated: bool = True,
        gate_bias: float | None = None,
        scale_bound: str = "soft",
        max_log_scale: float = 10.0,
        map: ElementwiseMap | None = None,
        **made_options,
    ):
        if map is None:
            map = Gated() if gated else Affine(scale_bound, max_log_scale)
        super().__init__(features, Inverted(map), **made_options)
        self.gated = gated
        self.scale_bound = scale_bound
        self.max_log_scale = max_log_scale
        self.density_method = "degree"
        if gate_bias is None:
            gate_bias = 2.0 if gated else 0.0
        if self.made.output_layer.bias is not None and map.params_per_dim == 2:
            with torch.no_grad():
                self.made.output_layer.bias[features:] = gate_bias

    def inverse(
        self, u: Tensor, context: Tensor | None = None, method: str | None = None
    ) -> tuple[Tensor, Tensor]:
        # One MADE pass: there is no solver to choose, so ``method`` is accepted and unused.
        return super().forward(u, context)

    def forward(
        self, x: Tensor, context: Tensor | None = None, method: str | None = None
    ) -> tuple[Tensor, Tensor]:
        return super().inverse(x, context, _check_inverse_method(method or self.density_method))
