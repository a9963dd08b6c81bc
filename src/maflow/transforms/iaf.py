"""Inverse autoregressive flow step: a MADE affine layer run in the sampling direction."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from maflow.nn.fast_sampling import made_inverse
from maflow.nn.made import MADE
from maflow.transforms.autoregressive import _check_inverse_method, bound_log_scale
from maflow.transforms.base import Transform

__all__ = ["InverseAutoregressive"]


class InverseAutoregressive(Transform):
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
    MAF step whose MADE reads its own output).

    References:
        | Improved Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        features: Number of inputs D.
        hidden_features, num_hidden_layers, context_features, order, hidden_degrees,
            activation, seed: Passed to :class:`maflow.nn.MADE`.
        gated: Use the gated update (default) or the plain affine one.
        gate_bias: Initial bias of ``s`` (gated) or of :math:`\alpha` (affine, default 0).
        scale_bound, max_log_scale: Bound on :math:`\alpha` when ``gated=False``.

    Example:
        >>> step = InverseAutoregressive(4, hidden_features=16)
        >>> u = torch.randn(10, 4)
        >>> x, logabsdet = step.inverse(u)  # sampling: one MADE pass
        >>> torch.allclose(step(x)[0], u, atol=1e-5)  # density: D passes
        True
    """

    def __init__(
        self,
        features: int,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        order="natural",
        hidden_degrees: str = "sequential",
        activation: str = "relu",
        gated: bool = True,
        gate_bias: float | None = None,
        scale_bound: str = "soft",
        max_log_scale: float = 10.0,
        seed: int = 0,
    ):
        super().__init__()
        bound_log_scale(torch.zeros(1), max_log_scale, scale_bound)  # validates the mode early
        self.features = features
        self.gated = gated
        self.scale_bound = scale_bound
        self.max_log_scale = max_log_scale
        self.made = MADE(
            features,
            hidden_features,
            num_hidden_layers,
            output_multiplier=2,
            context_features=context_features,
            order=order,
            hidden_degrees=hidden_degrees,
            activation=activation,
            seed=seed,
        )
        self.density_method = "degree"
        if gate_bias is None:
            gate_bias = 2.0 if gated else 0.0
        with torch.no_grad():
            self.made.output_layer.bias[features:] = gate_bias

    def _shift_and_log_gain(self, shift: Tensor, raw: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Offset, gain on u (sigma(s) or e^alpha) and log of the gain, from the MADE outputs."""
        if self.gated:
            gate = torch.sigmoid(raw)
            return (1 - gate) * shift, gate, F.logsigmoid(raw)
        log_scale = bound_log_scale(raw, self.max_log_scale, self.scale_bound)
        return shift, torch.exp(log_scale), log_scale

    def _outputs(self, u: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        out = self.made(u, context)
        return out[..., : self.features], out[..., self.features :]

    def inverse(self, u: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        offset, gain, log_gain = self._shift_and_log_gain(*self._outputs(u, context))
        return gain * u + offset, log_gain.sum(-1)

    def forward(
        self, x: Tensor, context: Tensor | None = None, method: str | None = None
    ) -> tuple[Tensor, Tensor]:
        if _check_inverse_method(method or self.density_method) == "degree":
            return made_inverse(self.made, x, self._solve, context)
        return self._naive_forward(x, context)

    def _solve(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        offset, gain, log_gain = self._shift_and_log_gain(params[:, 0], params[:, 1])
        return (x - offset) / gain, -log_gain.sum(-1)

    def _naive_forward(self, x: Tensor, context: Tensor | None) -> tuple[Tensor, Tensor]:
        degrees = self.made.input_degrees
        u = torch.zeros_like(x)
        logabsdet = x.new_zeros(x.shape[0])
        for degree in torch.unique(degrees).tolist():
            # Noise of this degree needs only the noise of lower degree, already recovered.
            index = (degrees == degree).nonzero().squeeze(-1)
            offset, gain, log_gain = self._shift_and_log_gain(*self._outputs(u, context))
            u_new = (x[..., index] - offset[..., index]) / gain[..., index]
            u = u.index_copy(-1, index, u_new)
            logabsdet = logabsdet - log_gain[..., index].sum(-1)
        return u, logabsdet
