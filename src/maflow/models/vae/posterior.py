"""The IAF posterior of a VAE: a diagonal Gaussian refined by gated cMADE steps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maflow.nn.made import hidden_degrees, input_degrees
from maflow.nn.masked import MaskedLinear
from maflow.transforms.base import Transform

__all__ = ["WeightNormMaskedLinear", "ConditionalMADE", "IAFStep", "IAFPosterior"]

NORMALIZATIONS = ("batch", "weight", "none")


class WeightNormMaskedLinear(MaskedLinear):
    r"""A masked linear layer with weight norm :math:`y = g \, (v \odot M) x / \|v \odot M\| + b`.

    The first forward pass in training mode initialises ``g`` and ``b`` from the data, so
    that every output starts with zero mean and unit variance over that batch.

    References:
        | Weight Normalization (Salimans and Kingma, 2016)
        | https://arxiv.org/abs/1602.07868

    Arguments:
        in_features, out_features, mask: As :class:`maflow.nn.MaskedLinear`.

    Example:
        >>> layer = WeightNormMaskedLinear(3, 2, torch.ones(2, 3))
        >>> y = layer(torch.randn(100, 3))
        >>> torch.allclose(y.mean(0), torch.zeros(2), atol=1e-5)
        True
    """

    def __init__(self, in_features: int, out_features: int, mask: Tensor):
        super().__init__(in_features, out_features, mask, bias=True)
        self.log_scale = nn.Parameter(torch.zeros(out_features))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _direction(self) -> Tensor:
        weight = self.weight * self.mask
        # Rows that the mask empties entirely stay zero instead of dividing by zero.
        return weight / weight.norm(dim=1, keepdim=True).clamp_min(1e-12)

    def forward(self, x: Tensor) -> Tensor:
        t = F.linear(x, self._direction())
        if self.training and not self.initialized:
            with torch.no_grad():
                std = t.std(0) if t.shape[0] > 1 else torch.ones_like(t[0])
                # Rows that see nothing (masked out, or constant inputs) keep unit scale.
                std = torch.where(std > 1e-6, std, torch.ones_like(std))
                self.log_scale.copy_(-torch.log(std))
                self.bias.copy_(-t.mean(0) / std)
                self.initialized.fill_(True)
        return t * torch.exp(self.log_scale) + self.bias


class ConditionalMADE(nn.Module):
    r"""A MADE over the latent ``z`` that also sees an encoder context ``h``; returns ``(m, s)``.

    Hidden layers are masked linear, normalisation, ELU. With ``context_mode="snf"`` (seed
    004's default) the context is added after the first activation, so its size must equal
    the first hidden width; with ``"linear"`` it enters the first pre-activation through an
    unmasked linear map. With batch norm, the ``s`` head's batch-norm shift starts at
    ``gate_bias`` (seed 004: 3); otherwise the ``s`` head's bias does (seed 004: 2), so
    the gate :math:`\sigma(s)` starts near one.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        features: Latent size L.
        hidden_features: Widths of the hidden layers.
        context_features: Size of the context ``h``.
        normalization: ``"batch"`` (seed 004), ``"weight"`` (weight norm with data-dependent
            initialisation, the IAF paper) or ``"none"``.
        context_mode: ``"snf"`` or ``"linear"``.
        order: ``"natural"`` or ``"reversed"`` (or a permutation) of the autoregressive order.
        gate_bias: Initial bias of ``s``; ``None`` picks 3 with batch norm, 2 otherwise.

    Example:
        >>> made = ConditionalMADE(4, [8, 8], context_features=8, normalization="none")
        >>> m, s = made(torch.randn(5, 4), torch.randn(5, 8))
        >>> m.shape, s.shape
        (torch.Size([5, 4]), torch.Size([5, 4]))
    """

    def __init__(
        self,
        features: int,
        hidden_features: Sequence[int],
        context_features: int,
        normalization: str = "batch",
        context_mode: str = "snf",
        order="natural",
        gate_bias: float | None = None,
    ):
        super().__init__()
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}: use one of {NORMALIZATIONS}")
        if context_mode not in ("snf", "linear"):
            raise ValueError(f"unknown context_mode {context_mode!r}: use snf or linear")
        hidden_features = [int(h) for h in hidden_features]
        if not hidden_features:
            raise ValueError("a cMADE needs at least one hidden layer")
        if context_mode == "snf" and context_features != hidden_features[0]:
            raise ValueError(
                f"context_mode='snf' adds the context to the first hidden layer: context_features "
                f"({context_features}) must equal hidden_features[0] ({hidden_features[0]})"
            )
        self.features = features
        self.normalization = normalization
        self.context_mode = context_mode
        rng = np.random.RandomState(0)
        degrees = [input_degrees(features, order, rng)]
        for units in hidden_features:
            degrees.append(hidden_degrees(units, features, degrees[-1], "sequential", rng))
        self.register_buffer("input_degrees", torch.from_numpy(degrees[0].astype(np.int64)))

        def layer(d_in, d_out, strict):
            mask = d_out[:, None] > d_in[None, :] if strict else d_out[:, None] >= d_in[None, :]
            mask = torch.from_numpy(mask.astype(np.float32))
            if normalization == "weight":
                return WeightNormMaskedLinear(len(d_in), len(d_out), mask)
            linear = MaskedLinear(len(d_in), len(d_out), mask, bias=normalization == "none")
            nn.init.xavier_uniform_(linear.weight)  # seed 004's init
            return linear

        def norm(units):
            return nn.BatchNorm1d(units) if normalization == "batch" else nn.Identity()

        self.hidden_layers = nn.ModuleList(layer(a, b, False) for a, b in zip(degrees, degrees[1:]))
        self.hidden_norms = nn.ModuleList(norm(units) for units in hidden_features)
        self.context_layer = (
            nn.Linear(context_features, hidden_features[0], bias=False) if context_mode == "linear" else None
        )
        self.m_head = layer(degrees[-1], degrees[0], True)
        self.s_head = layer(degrees[-1], degrees[0], True)
        self.m_norm, self.s_norm = norm(features), norm(features)
        if gate_bias is None:
            gate_bias = 3.0 if normalization == "batch" else 2.0
        self.gate_bias = float(gate_bias)
        with torch.no_grad():
            if normalization == "batch":
                self.s_norm.bias.fill_(self.gate_bias)
            elif normalization == "none":
                self.s_head.bias.fill_(self.gate_bias)

    def forward(self, z: Tensor, context: Tensor) -> tuple[Tensor, Tensor]:
        h = z
        for index, (layer, norm) in enumerate(zip(self.hidden_layers, self.hidden_norms)):
            h = layer(h)
            if index == 0 and self.context_layer is not None:
                h = h + self.context_layer(context)
            h = F.elu(norm(h))
            if index == 0 and self.context_layer is None:
                h = h + context
        m = self.m_norm(self.m_head(h))
        s = self.s_norm(self.s_head(h))
        if self.normalization == "weight":
            # Data-dependent init normalised s too; the gate bias still has to apply.
            s = s + self.gate_bias
        return m, s


class IAFStep(Transform):
    r"""One gated IAF step :math:`z' = \sigma(s) \odot z + (1 - \sigma(s)) \odot m`, ``(m, s) = cMADE(z, h)``.

    Following the project's convention, ``inverse`` is the cheap sampling direction (one
    cMADE pass, noise to latent, log-det :math:`\sum_i \log \sigma(s_i)`) and ``forward``
    the density direction, which takes one pass per latent dimension. Batch norm inside the
    cMADE couples the examples of a batch in training mode; the log-det is exact in
    evaluation mode.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        features: Latent size L.
        hidden_features, context_features, normalization, context_mode, order, gate_bias:
            Passed to :class:`ConditionalMADE`.
        shift_only: Use :math:`z' = z + m` (log-det 0) instead of the gated update.

    Example:
        >>> step = IAFStep(3, [6], context_features=6, normalization="none").eval()
        >>> z, h = torch.randn(4, 3), torch.randn(4, 6)
        >>> y, logdet = step.inverse(z, h)
        >>> torch.allclose(step(y, h)[0], z, atol=1e-5)
        True
    """

    def __init__(
        self,
        features: int,
        hidden_features: Sequence[int],
        context_features: int,
        normalization: str = "batch",
        context_mode: str = "snf",
        order="natural",
        gate_bias: float | None = None,
        shift_only: bool = False,
    ):
        super().__init__()
        self.features = features
        self.shift_only = shift_only
        self.made = ConditionalMADE(
            features, hidden_features, context_features, normalization, context_mode, order, gate_bias
        )

    def _gate(self, z: Tensor, context: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Shift m, gate sigma(s) and log sigma(s) at ``z``."""
        m, s = self.made(z, context)
        if self.shift_only:
            return m, torch.ones_like(s), torch.zeros_like(s)
        return m, torch.sigmoid(s), F.logsigmoid(s)

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        m, gate, log_gate = self._gate(z, context)
        if self.shift_only:
            return z + m, z.new_zeros(z.shape[0])
        return gate * z + (1 - gate) * m, log_gate.sum(-1)

    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        if self.training and any(
            isinstance(m, WeightNormMaskedLinear) and not m.initialized for m in self.made.modules()
        ):
            self.made(y, context)  # initialise weight norm on the data, not on the all-zero first guess
        z = torch.zeros_like(y)
        logabsdet = y.new_zeros(y.shape[0])
        degrees = self.made.input_degrees
        for degree in torch.unique(degrees).tolist():
            # Dimensions of this degree depend only on dimensions of lower degree, known by now.
            index = (degrees == degree).nonzero().squeeze(-1)
            m, gate, log_gate = self._gate(z, context)
            solved = (y[..., index] - (1 - gate[..., index]) * m[..., index]) / gate[..., index]
            z = z.index_copy(-1, index, solved)
            logabsdet = logabsdet - log_gate[..., index].sum(-1)
        return z, logabsdet


class IAFPosterior(nn.Module):
    r"""q(z|x): a diagonal Gaussian :math:`z_0 = \mu + e^{\log\sigma + c}\epsilon`, then ``num_steps`` IAF steps.

    The constant offset ``c`` (seed 004: -3) makes the initial posterior narrow. Orders
    alternate between natural and reversed from one step to the next.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        features: Latent size L.
        context_features: Size of the encoder context ``h`` (ignored when ``num_steps=0``).
        num_steps: Number of IAF steps (0 gives the plain diagonal Gaussian posterior).
        hidden_features: Hidden widths of each cMADE.
        normalization, context_mode, gate_bias, shift_only: Passed to :class:`IAFStep`.
        log_std_offset: The constant ``c`` added to the encoder's log-std.

    Example:
        >>> q = IAFPosterior(4, context_features=8, num_steps=2, hidden_features=[8])
        >>> mean, log_std, h = torch.zeros(3, 4), torch.zeros(3, 4), torch.randn(3, 8)
        >>> z, log_q = q.rsample_and_log_prob(mean, log_std, h, num_samples=5)
        >>> z.shape, log_q.shape
        (torch.Size([5, 3, 4]), torch.Size([5, 3]))
    """

    def __init__(
        self,
        features: int,
        context_features: int = 0,
        num_steps: int = 8,
        hidden_features: Sequence[int] = (1920, 1920),
        normalization: str = "batch",
        context_mode: str = "snf",
        gate_bias: float | None = None,
        shift_only: bool = False,
        log_std_offset: float = -3.0,
    ):
        super().__init__()
        self.features = features
        self.log_std_offset = float(log_std_offset)
        self.steps = nn.ModuleList(
            IAFStep(
                features,
                hidden_features,
                context_features,
                normalization,
                context_mode,
                "natural" if index % 2 == 0 else "reversed",
                gate_bias,
                shift_only,
            )
            for index in range(num_steps)
        )

    def base_parameters(self, mean: Tensor, log_std: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-std of the Gaussian q0, the offset included."""
        return mean, log_std + self.log_std_offset

    def rsample_and_log_prob(
        self, mean: Tensor, log_std: Tensor, context: Tensor | None, num_samples: int = 1
    ) -> tuple[Tensor, Tensor]:
        """``num_samples`` reparameterised draws per example, shape ``(S, B, L)``, and log q, ``(S, B)``."""
        mean, log_std = self.base_parameters(mean, log_std)
        shape = (num_samples, *mean.shape)
        eps = torch.randn(shape, dtype=mean.dtype, device=mean.device)
        z = mean + torch.exp(log_std) * eps
        log_q = -(0.5 * eps.pow(2) + log_std + 0.5 * math.log(2 * math.pi)).sum(-1)
        if not self.steps:
            return z, log_q
        flat = z.reshape(-1, self.features)
        flat_context = context.expand(num_samples, *context.shape).reshape(-1, context.shape[-1])
        total = flat.new_zeros(flat.shape[0])
        for step in self.steps:
            flat, logabsdet = step.inverse(flat, flat_context)
            total = total + logabsdet
        return flat.reshape(shape), log_q - total.reshape(num_samples, -1)
