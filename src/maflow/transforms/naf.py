r"""Neural autoregressive flows: the deep sigmoidal map as an element-wise map of the autoregressive layer."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn import functional as F

from maflow.transforms.autoregressive import MaskedAutoregressive
from maflow.transforms.elementwise import ElementwiseMap

__all__ = ["DeepSigmoid", "DenseSigmoid", "MaskedNAF", "SolvedMonotoneMap", "bracketed_monotone_inverse"]

Monotone = Callable[[Tensor], tuple[Tensor, Tensor]]


def bracketed_monotone_inverse(
    f: Monotone, y: Tensor, tolerance: float | None = None, max_iterations: int = 200
) -> Tensor:
    r"""Solves :math:`f(x) = y` element-wise for an increasing :math:`f: \mathbb{R} \to \mathbb{R}`.

    A bracket ``[lo, hi]`` with :math:`f(lo) \le y \le f(hi)` is grown by doubling from
    ``[-1, 1]``; then Newton steps that stay inside the bracket, and bisection steps
    where they would leave it, run until the bracket or the Newton step is below
    ``tolerance * (1 + |x|)`` everywhere (default: 1e-12 in float64, 1e-6 in float32). Newton needs the derivative, which
    ``f`` returns as its log: ``f(x) -> (value, log_derivative)``. Not differentiable;
    see :meth:`DeepSigmoid.inverse` for the gradient of the root.

    Example:
        >>> f = lambda x: (x + x**3, torch.log(1 + 3 * x**2))
        >>> x = bracketed_monotone_inverse(f, torch.tensor([2.0, -10.0], dtype=torch.float64))
        >>> torch.allclose(x, torch.tensor([1.0, -2.0], dtype=torch.float64), rtol=0, atol=1e-12)
        True
    """
    if tolerance is None:
        tolerance = 1e-12 if y.dtype == torch.float64 else 1e-6
    with torch.no_grad():
        lo, hi = -torch.ones_like(y), torch.ones_like(y)
        for _ in range(1100):  # 2**1024 overflows float64: beyond that y is not finite
            below, above = f(lo)[0] > y, f(hi)[0] < y
            if not (below.any() or above.any()):
                break
            lo = torch.where(below, 2 * lo, lo)
            hi = torch.where(above, 2 * hi, hi)
        x = (lo + hi) / 2
        for _ in range(max_iterations):
            value, log_derivative = f(x)
            too_high = value > y
            hi, lo = torch.where(too_high, x, hi), torch.where(too_high, lo, x)
            newton = x - (value - y) * torch.exp(-log_derivative)
            inside = (newton >= lo) & (newton <= hi)
            step = torch.where(inside, newton, (lo + hi) / 2)
            scale = tolerance * (1 + x.abs())
            converged = ((hi - lo) <= scale) | (inside & ((newton - x).abs() <= scale))
            x = step
            if bool(converged.all()):
                break
        return x


class SolvedMonotoneMap(ElementwiseMap):
    """An increasing map without a closed-form inverse: ``inverse`` solves it.

    Subclasses define ``forward``; the inverse runs :func:`bracketed_monotone_inverse` to
    ``self.tolerance`` and then one Newton step under autograd, so the root's value is kept
    and its gradient is the implicit one,
    :math:`\\partial x / \\partial \theta = -(\\partial f / \\partial \theta) / f'(x)`.
    """

    tolerance: float | None = None

    def inverse(self, y: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        root = bracketed_monotone_inverse(lambda x: self(x, params.detach()), y.detach(), self.tolerance)
        value, log_derivative = self(root, params)
        x = root - (value - y) * torch.exp(-log_derivative)
        return x, -self(x, params)[1] if torch.is_grad_enabled() else -log_derivative


def _bounded_log_slope(raw: Tensor, bound: float) -> Tensor:
    # An unbounded small slope makes tails so flat that samples reach 1e10 and the next
    # layer's parameters overflow; a smooth bound keeps every slope in [e^-bound, e^bound].
    return bound * torch.tanh(raw / bound)


class DeepSigmoid(SolvedMonotoneMap):
    r"""The deep sigmoidal flow :math:`y = \sigma^{-1}\big(\sum_j w_j \sigma(a_j x + b_j)\big)`, stacked ``num_blocks`` times.

    Per block and dimension: ``hidden`` slopes :math:`a_j > 0` (their logs smoothly bounded
    to ``[-max_log_slope, max_log_slope]``: an unbounded small slope makes tails so flat
    that samples reach 1e10 and the next layer's parameters overflow), offsets :math:`b_j` and mixing weights :math:`w = \mathrm{softmax}(\cdot)`, so each block
    is increasing, maps :math:`\mathbb{R}` onto :math:`\mathbb{R}` (asymptotically linear with
    slope :math:`\min_j a_j`), and is evaluated in log space (no saturation to
    :math:`\pm\infty`). It has no closed-form inverse: ``inverse`` solves with
    :func:`bracketed_monotone_inverse` to ``tolerance`` and then takes one Newton step
    under autograd, so the root's gradient is the implicit one,
    :math:`\partial x / \partial \theta = -(\partial f / \partial \theta) / f'(x)`.

    References:
        | Neural Autoregressive Flows (Huang et al., 2018)
        | https://arxiv.org/abs/1804.00779

    Arguments:
        hidden: Sigmoid units per block (M).
        num_blocks: Number of stacked sigmoidal blocks (a deeper monotone map).
        tolerance: Of the inverse solver (``None``: 1e-12 in float64, 1e-6 in float32).
        max_log_slope: Bound on the log of every sigmoid's slope.

    Example:
        >>> g = DeepSigmoid(hidden=4)
        >>> params = torch.randn(3, 2, g.params_per_dim, dtype=torch.float64)
        >>> x = torch.randn(3, 2, dtype=torch.float64)
        >>> y, _ = g(x, params)
        >>> torch.allclose(g.inverse(y, params)[0], x, atol=1e-10)
        True
    """

    def __init__(
        self, hidden: int = 8, num_blocks: int = 1, tolerance: float | None = None, max_log_slope: float = 4.0
    ):
        super().__init__()
        if hidden < 1 or num_blocks < 1:
            raise ValueError(f"hidden and num_blocks must be >= 1, got {hidden} and {num_blocks}")
        self.hidden = hidden
        self.num_blocks = num_blocks
        self.tolerance = tolerance
        self.max_log_slope = float(max_log_slope)
        self.params_per_dim = 3 * hidden * num_blocks

    def _block(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        a_raw, b, w_raw = params.unsqueeze(-2).chunk(3, dim=-1)  # (..., 1, M) each
        log_a = _bounded_log_slope(a_raw, self.max_log_slope)
        log_w = torch.log_softmax(w_raw, dim=-1)
        z = torch.exp(log_a) * x.unsqueeze(-1).unsqueeze(-1) + b
        log_s = torch.logsumexp(log_w + F.logsigmoid(z), dim=-1)  # log of the mixture of sigmoids
        log_one_minus_s = torch.logsumexp(log_w + F.logsigmoid(-z), dim=-1)
        log_slope = torch.logsumexp(log_w + log_a + F.logsigmoid(z) + F.logsigmoid(-z), dim=-1)
        y = (log_s - log_one_minus_s).squeeze(-1)
        return y, (log_slope - log_s - log_one_minus_s).squeeze(-1)

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        log_derivative = torch.zeros_like(x)
        for block in params.chunk(self.num_blocks, dim=-1):
            x, block_log_derivative = self._block(x, block)
            log_derivative = log_derivative + block_log_derivative
        return x, log_derivative


class DenseSigmoid(SolvedMonotoneMap):
    r"""The dense sigmoidal flow: blocks of M sigmoid units fully connected to the units of the block before.

    Block ``l`` maps its input units :math:`h` to :math:`\sigma^{-1}(w\,\sigma(a \odot (u h) + b))`
    with :math:`u` and :math:`w` rows on the simplex (softmax) and :math:`a > 0`; the first block
    reads the scalar :math:`x`, the last writes the scalar :math:`y`. Every weight is positive,
    so the map is increasing; its log-derivative is the log-space product of the blocks'
    Jacobians. The inverse is solved (:class:`SolvedMonotoneMap`).

    References:
        | Neural Autoregressive Flows (Huang et al., 2018), the DDSF of section 3.3
        | https://arxiv.org/abs/1804.00779

    Arguments:
        hidden: Units per block (M).
        num_blocks: Number of blocks (at least 1).
        tolerance, max_log_slope: As :class:`DeepSigmoid`.

    Example:
        >>> g = DenseSigmoid(hidden=3, num_blocks=2)
        >>> params = torch.randn(4, 2, g.params_per_dim, dtype=torch.float64)
        >>> x = torch.randn(4, 2, dtype=torch.float64)
        >>> y, _ = g(x, params)
        >>> torch.allclose(g.inverse(y, params)[0], x, atol=1e-10)
        True
    """

    def __init__(
        self, hidden: int = 8, num_blocks: int = 2, tolerance: float | None = None, max_log_slope: float = 4.0
    ):
        super().__init__()
        if hidden < 1 or num_blocks < 1:
            raise ValueError(f"hidden and num_blocks must be >= 1, got {hidden} and {num_blocks}")
        self.hidden, self.num_blocks = hidden, num_blocks
        self.tolerance = tolerance
        self.max_log_slope = float(max_log_slope)
        sizes = [1] + [hidden] * (num_blocks - 1) + [1]
        self.blocks = [(m_in, m_out) for m_in, m_out in zip(sizes, sizes[1:])]
        self.params_per_dim = sum(hidden * m_in + 2 * hidden + m_out * hidden for m_in, m_out in self.blocks)

    def forward(self, x: Tensor, params: Tensor) -> tuple[Tensor, Tensor]:
        m = self.hidden
        h = x.unsqueeze(-1)  # (..., 1) units
        log_jacobian = torch.zeros_like(h).unsqueeze(-1)  # log dh/dx, (..., units, 1)
        offset = 0
        for m_in, m_out in self.blocks:
            sizes = [m * m_in, m, m, m_out * m]
            u_raw, a_raw, b, w_raw = params[..., offset : offset + sum(sizes)].split(sizes, dim=-1)
            offset += sum(sizes)
            log_u = torch.log_softmax(u_raw.unflatten(-1, (m, m_in)), dim=-1)  # (..., M, in)
            log_w = torch.log_softmax(w_raw.unflatten(-1, (m_out, m)), dim=-1)  # (..., out, M)
            log_a = _bounded_log_slope(a_raw, self.max_log_slope)
            pre = torch.exp(log_a) * (torch.exp(log_u) @ h.unsqueeze(-1)).squeeze(-1) + b  # (..., M)
            up, down = F.logsigmoid(pre), F.logsigmoid(-pre)
            log_s = torch.logsumexp(log_w + up.unsqueeze(-2), dim=-1)  # (..., out)
            log_one_minus_s = torch.logsumexp(log_w + down.unsqueeze(-2), dim=-1)
            h = log_s - log_one_minus_s
            # d out_o / d in_j = sum_k w_ok sigma'(pre_k) a_k u_kj / (S_o (1 - S_o)), in log space.
            inner = (log_w + (up + down + log_a).unsqueeze(-2)).unsqueeze(-1) + log_u.unsqueeze(-3)
            block = torch.logsumexp(inner, dim=-2) - (log_s + log_one_minus_s).unsqueeze(-1)  # (..., out, in)
            log_jacobian = torch.logsumexp(block.unsqueeze(-1) + log_jacobian.unsqueeze(-3), dim=-2)
        return h.squeeze(-1), log_jacobian.squeeze(-1).squeeze(-1)


class MaskedNAF(MaskedAutoregressive):
    r"""A neural autoregressive flow layer: :class:`MaskedAutoregressive` with the :class:`DeepSigmoid` map.

    ``forward`` (density) takes one MADE pass; ``inverse`` (sampling) solves each step of
    the degree-ordered schedule with a bracketed monotone solver.

    References:
        | Neural Autoregressive Flows (Huang et al., 2018)
        | https://arxiv.org/abs/1804.00779

    Arguments:
        features: Number of inputs D.
        sigmoid_units, num_blocks, tolerance: Of the sigmoidal map.
        dense: Use the dense sigmoidal map (:class:`DenseSigmoid`) instead of the deep one.
        **made_options: Passed to :class:`maflow.nn.MADE` (``hidden_features``, 64 by default, ...).

    Example:
        >>> layer = MaskedNAF(2, sigmoid_units=4).double()
        >>> noise = torch.randn(5, 2, dtype=torch.float64)
        >>> x, _ = layer.inverse(noise)  # each dimension solved to 1e-12 (float64)
        >>> bool((layer(x)[0] - noise).abs().max() < 1e-10)
        True
    """

    made_defaults = {"hidden_features": 64}

    def __init__(
        self,
        features: int,
        *,
        sigmoid_units: int = 8,
        num_blocks: int = 1,
        tolerance: float | None = None,
        dense: bool = False,
        **made_options,
    ):
        kind = DenseSigmoid if dense else DeepSigmoid
        super().__init__(features, kind(sigmoid_units, num_blocks, tolerance), **made_options)
