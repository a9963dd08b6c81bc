"""Masked, gated RealNVP-style steps: the flows of q(z) and r(z|W) in multiplicative normalizing flows."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from maflow.errors import ConfigError
from maflow.transforms.base import Transform

__all__ = ["GatedMaskedCoupling", "GatedMaskedFlow"]

MASK_MODES = ("fixed", "fresh")


class GatedMaskedCoupling(Transform):
    r"""One masked RealNVP step with a sigmoid gate (MNF, eq. 8).

    With a binary mask :math:`m`, :math:`h = \tanh(A(m \odot z) + a)`, a shift :math:`\mu = M h + c` and a
    gate :math:`\sigma = \mathrm{sigmoid}(S h + s)`, the step is

    .. math:: z' = m \odot z + (1 - m) \odot (z \odot \sigma + (1 - \sigma) \odot \mu),
              \qquad \log|\det| = \textstyle\sum (1 - m) \log \sigma.

    ``forward`` is the paper's update (used to sample q(z) and to evaluate r(z|W)); ``inverse``
    undoes it exactly when the mask is fixed. With ``mask="fresh"`` a new Bernoulli(1/2) mask is
    drawn on every call, as in the paper's and janosh/torch-mnf's code; the step is then a random map and
    has no inverse.

    References:
        Louizos and Welling, "Multiplicative Normalizing Flows for Variational Bayesian Neural
        Networks", ICML 2017, arXiv:1703.01961.

    Arguments:
        features: dimension of z.
        hidden_features: width of the single tanh hidden layer.
        mask: a 0/1 tensor of shape (features,) for ``mask="fixed"``; ignored for ``"fresh"``.
        mask_mode: ``"fixed"`` (default) or ``"fresh"``.

    Example:
        >>> import torch
        >>> step = GatedMaskedCoupling(4, mask=torch.tensor([1.0, 0.0, 1.0, 0.0]))
        >>> z = torch.randn(3, 4)
        >>> y, logabsdet = step(z)
        >>> torch.allclose(step.inverse(y)[0], z, atol=1e-5), logabsdet.shape
        (True, torch.Size([3]))
    """

    mask: torch.Tensor

    def __init__(
        self, features: int, hidden_features: int = 50, mask: Tensor | None = None, mask_mode: str = "fixed"
    ):
        super().__init__()
        if mask_mode not in MASK_MODES:
            raise ConfigError(f"mask_mode must be one of {MASK_MODES}, not {mask_mode!r}")
        self.features = features
        self.mask_mode = mask_mode
        if mask is None:
            mask = (torch.arange(features) % 2).float()
        mask = torch.as_tensor(mask, dtype=torch.float32)
        if mask.shape != (features,):
            raise ConfigError(f"mask must have shape ({features},), not {tuple(mask.shape)}")
        self.register_buffer("mask", mask)
        self.hidden = nn.Linear(features, hidden_features)
        self.shift = nn.Linear(hidden_features, features)
        self.gate = nn.Linear(hidden_features, features)
        # A gate bias of 2 (sigmoid = 0.88) starts every step close to the identity, as the
        # MNF authors' code does.
        nn.init.constant_(self.gate.bias, 2.0)

    def _mask_for(self, z: Tensor) -> Tensor:
        if self.mask_mode == "fresh":
            return torch.bernoulli(torch.full_like(z, 0.5))
        return self.mask.to(z.dtype)

    def _shift_and_log_gate(self, masked: Tensor) -> tuple[Tensor, Tensor]:
        h = torch.tanh(self.hidden(masked))
        gate_logits = self.gate(h)
        return self.shift(h), nn.functional.logsigmoid(gate_logits)

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        mask = self._mask_for(z)
        shift, log_gate = self._shift_and_log_gate(mask * z)
        gate = log_gate.exp()
        y = mask * z + (1 - mask) * (z * gate + (1 - gate) * shift)
        return y, ((1 - mask) * log_gate).sum(-1)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.mask_mode == "fresh":
            raise NotImplementedError(
                "a step with a fresh random mask per call has no inverse; use mask_mode='fixed'"
            )
        mask = self.mask.to(y.dtype)
        # The masked part passes unchanged, so the network sees the same input in both directions.
        shift, log_gate = self._shift_and_log_gate(mask * y)
        gate = log_gate.exp()
        z = mask * y + (1 - mask) * (y - (1 - gate) * shift) / gate
        return z, -((1 - mask) * log_gate).sum(-1)


class GatedMaskedFlow(Transform):
    """A stack of :class:`GatedMaskedCoupling` steps, the q(z) and r(z|W) flows of MNF.

    With ``mask_mode="fixed"`` a Bernoulli(1/2) mask is drawn once from ``seed`` and stored;
    consecutive steps alternate between it and its complement, so every coordinate is updated
    once per pair of steps and the flow is an exact, invertible bijection with an exact
    log-determinant. ``mask_mode="fresh"`` draws a new mask per step and call (the paper's code).

    References:
        Louizos and Welling, arXiv:1703.01961; Dinh et al., "Density estimation using Real NVP",
        arXiv:1605.08803.

    Arguments:
        features: dimension of z.
        num_steps: number of gated steps (2 in the paper).
        hidden_features: width of each step's hidden layer (50 in the paper).
        mask_mode: ``"fixed"`` or ``"fresh"``.
        seed: seed of the fixed mask (so that two runs build the same flow).

    Example:
        >>> import torch
        >>> flow = GatedMaskedFlow(5, num_steps=2, hidden_features=8)
        >>> z = torch.randn(4, 5)
        >>> y, logabsdet = flow(z)
        >>> torch.allclose(flow.inverse(y)[0], z, atol=1e-5)
        True
    """

    def __init__(
        self,
        features: int,
        num_steps: int = 2,
        hidden_features: int = 50,
        mask_mode: str = "fixed",
        seed: int = 0,
    ):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        mask = torch.bernoulli(torch.full((features,), 0.5), generator=generator)
        if features > 1 and mask.sum() in (0, features):
            # A constant mask would leave every coordinate of one step untouched.
            mask[0] = 1 - mask[0]
        masks = [mask if i % 2 == 0 else 1 - mask for i in range(num_steps)]
        self.steps = nn.ModuleList(
            GatedMaskedCoupling(features, hidden_features, m, mask_mode=mask_mode) for m in masks
        )

    def forward(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = z.new_zeros(z.shape[:-1])
        for step in self.steps:
            z, logabsdet = step(z)
            total = total + logabsdet
        return z, total

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        total = y.new_zeros(y.shape[:-1])
        for step in reversed(self.steps):
            y, logabsdet = step.inverse(y)
            total = total + logabsdet
        return y, total
