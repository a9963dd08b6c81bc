"""Coupling layers: one part of the input passes unchanged and parametrises the other (NICE, Real NVP)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from maflow.nn.mlp import MLP
from maflow.transforms.autoregressive import bound_log_scale
from maflow.transforms.base import Transform
from maflow.transforms.elementwise import ElementwiseMap

__all__ = ["Coupling", "MapCoupling", "AffineCoupling", "AdditiveCoupling", "alternating_mask", "half_mask"]


def alternating_mask(features: int, parity: int = 0) -> Tensor:
    """Transforms the dimensions ``i`` with ``i % 2 == parity`` (the MAF code's Real NVP mask)."""
    return torch.arange(features) % 2 == parity % 2


def half_mask(features: int, parity: int = 0) -> Tensor:
    """Transforms the second half (``parity=0``) or the first half (``parity=1``) of the dimensions."""
    second = torch.arange(features) >= features // 2
    return second if parity % 2 == 0 else ~second


class Coupling(Transform):
    r"""Base coupling layer: :math:`y_A = x_A`, :math:`y_B = g(x_B; \theta(x_A, c))`.

    Subclasses define ``_elementwise(x_b, x_a, context, inverse)`` returning the transformed
    part and its per-sample log|det|. The two parts are gathered and put back by index
    (``index_copy``), so every output lands in the same position as its input whatever the
    mask: no half-split recombination order to get wrong.

    Arguments:
        mask: Boolean tensor of shape ``(features,)``; ``True`` marks the transformed
            dimensions B, ``False`` the conditioning dimensions A. Both must be non-empty.
        context_features: Size of an optional context vector fed to the conditioner.
    """

    transform_index: torch.Tensor
    identity_index: torch.Tensor

    def __init__(self, mask: Tensor, context_features: int | None = None):
        super().__init__()
        mask = torch.as_tensor(mask, dtype=torch.bool)
        if mask.dim() != 1 or mask.all() or not mask.any():
            raise ValueError("a coupling mask must be 1-D and mark some, but not all, dimensions True")
        self.features = mask.numel()
        self.context_features = context_features
        self.register_buffer("transform_index", mask.nonzero().squeeze(-1))
        self.register_buffer("identity_index", (~mask).nonzero().squeeze(-1))

    @property
    def num_identity(self) -> int:
        return self.identity_index.numel()

    @property
    def num_transformed(self) -> int:
        return self.transform_index.numel()

    def _network(self, outputs_per_dimension: int, **mlp_options) -> MLP:
        """An MLP from the conditioning dimensions (and the context) to the transformed ones' parameters."""
        return MLP(
            self.num_identity,
            self.num_transformed * outputs_per_dimension,
            context_features=self.context_features,
            **mlp_options,
        )

    def _elementwise(self, x_b: Tensor, x_a: Tensor, context: Tensor | None, inverse: bool):
        raise NotImplementedError

    def _couple(self, x: Tensor, context: Tensor | None, inverse: bool) -> tuple[Tensor, Tensor]:
        x_a = x.index_select(-1, self.identity_index)
        x_b = x.index_select(-1, self.transform_index)
        y_b, logabsdet = self._elementwise(x_b, x_a, context, inverse)
        return x.index_copy(-1, self.transform_index, y_b), logabsdet

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(x, context, inverse=False)

    def inverse(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return self._couple(y, context, inverse=True)


class MapCoupling(Coupling):
    r"""Coupling layer with a pluggable element-wise map: an MLP conditioner gives its parameters.

    :math:`y_B = g(x_B; \theta(x_A, c))` where ``g`` is any
    :class:`~maflow.transforms.elementwise.ElementwiseMap` (the maps of
    :class:`~maflow.transforms.MaskedAutoregressive`: affine, softplus-affine, spline, ...).
    One network gives all of a dimension's parameters.

    Arguments:
        mask: Boolean ``(features,)`` tensor, ``True`` for the transformed dimensions.
        map: The element-wise map.
        context_features: Size of an optional context vector.
        identity_start: Start as the identity map: zero output weights, and output biases
            that are the map's identity parameters.
        **mlp_options: The conditioner (``hidden_features``, ``num_hidden_layers``,
            ``activation``, ``weight_init``), passed to :class:`maflow.nn.mlp.MLP`.

    Example:
        >>> from maflow.transforms.elementwise import SoftplusAffine
        >>> layer = MapCoupling(alternating_mask(4), SoftplusAffine(shift="after"), hidden_features=16)
        >>> x = torch.randn(5, 4)
        >>> y, logabsdet = layer(x)
        >>> torch.allclose(y, x), torch.allclose(layer.inverse(y)[0], x, atol=1e-6)
        (True, True)
    """

    def __init__(
        self,
        mask: Tensor,
        map: ElementwiseMap,
        context_features: int | None = None,
        identity_start: bool = True,
        **mlp_options,
    ):
        super().__init__(mask, context_features)
        self.map = map
        self.conditioner = self._network(map.params_per_dim, **mlp_options)
        identity = map.identity_parameters()
        if identity_start:
            if identity is None:
                raise ValueError(
                    f"{type(map).__name__} has no identity parameters: pass identity_start=False"
                )
            with torch.no_grad():  # dimension-major outputs: out[i * P + j]
                self.conditioner.output_layer.weight.zero_()
                self.conditioner.output_layer.bias.copy_(identity.repeat(self.num_transformed))

    def _elementwise(self, x_b, x_a, context, inverse):
        params = self.conditioner(x_a, context).reshape(*x_b.shape, self.map.params_per_dim)
        y, log_derivative = self.map.inverse(x_b, params) if inverse else self.map(x_b, params)
        return y, log_derivative.sum(-1)


class AffineCoupling(Coupling):
    r"""Real NVP coupling :math:`y_B = (x_B - t(x_A)) e^{-s(x_A)}`, log|det| :math:`= -\sum s`.

    As the MAF paper's Real NVP baseline, the scale net ``s`` and the shift net ``t`` are
    separate MLPs (tanh and ReLU hidden units by default); their inputs are ``x_A`` and the
    context, concatenated. The log-scale is bounded (``scale_bound``), because an
    exponentiated unbounded scale is the usual source of overflow in coupling flows.
    ``scale="sigmoid"`` gives Glow's form instead: :math:`y_B = (x_B - t)\,\sigma(h + 2)`,
    a factor in (0, 1) that starts near 0.88.

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803

    Arguments:
        mask: Boolean ``(features,)`` tensor, ``True`` for the transformed dimensions
            (see :func:`alternating_mask`, :func:`half_mask`).
        context_features: Size of an optional context vector.
        scale_activation, shift_activation: Hidden activations of the two nets.
        scale_bound: ``"soft"`` (``B tanh(s / B)``), ``"clamp"`` or ``"none"``.
        max_log_scale: The bound ``B`` on ``|s|``.
        scale: ``"exp"`` (Real NVP) or ``"sigmoid"`` (Glow).
        **mlp_options: Sizes of both nets (``hidden_features``, ``num_hidden_layers``), passed
            to :class:`maflow.nn.mlp.MLP`.

    Example:
        >>> layer = AffineCoupling(alternating_mask(4), hidden_features=16)
        >>> x = torch.randn(5, 4)
        >>> y, logabsdet = layer(x)
        >>> torch.equal(y[:, 1::2], x[:, 1::2]), torch.allclose(layer.inverse(y)[0], x, atol=1e-5)
        (True, True)
    """

    def __init__(
        self,
        mask: Tensor,
        context_features: int | None = None,
        scale_activation: str = "tanh",
        shift_activation: str = "relu",
        scale_bound: str = "soft",
        max_log_scale: float = 10.0,
        scale: str = "exp",
        **mlp_options,
    ):
        super().__init__(mask, context_features)
        bound_log_scale(torch.zeros(1), max_log_scale, scale_bound)  # validates the mode early
        if scale not in ("exp", "sigmoid"):
            raise ValueError(f"unknown scale {scale!r}: use exp or sigmoid")
        self.scale = scale
        self.scale_bound = scale_bound
        self.max_log_scale = max_log_scale
        self.scale_net = self._network(1, activation=scale_activation, **mlp_options)
        self.shift_net = self._network(1, activation=shift_activation, **mlp_options)

    def _elementwise(self, x_b, x_a, context, inverse):
        raw = self.scale_net(x_a, context)
        if self.scale == "sigmoid":
            log_factor = F.logsigmoid(raw + 2.0)
        else:
            log_factor = -bound_log_scale(raw, self.max_log_scale, self.scale_bound)
        shift = self.shift_net(x_a, context)
        if inverse:
            return x_b * torch.exp(-log_factor) + shift, -log_factor.sum(-1)
        return (x_b - shift) * torch.exp(log_factor), log_factor.sum(-1)


class AdditiveCoupling(Coupling):
    r"""NICE's volume-preserving coupling :math:`y_B = x_B - t(x_A)`, log|det| = 0.

    References:
        | NICE: Non-linear Independent Components Estimation (Dinh et al., 2014)
        | https://arxiv.org/abs/1410.8516

    Arguments:
        mask: Boolean ``(features,)`` tensor, ``True`` for the transformed dimensions.
        context_features: Size of an optional context vector.
        **mlp_options: The shift net (``hidden_features``, ``num_hidden_layers``, ``activation``).

    Example:
        >>> layer = AdditiveCoupling(half_mask(4), hidden_features=16)
        >>> y, logabsdet = layer(torch.randn(3, 4))
        >>> logabsdet
        tensor([0., 0., 0.])
    """

    def __init__(self, mask: Tensor, context_features: int | None = None, **mlp_options):
        super().__init__(mask, context_features)
        self.shift_net = self._network(1, **mlp_options)

    def _elementwise(self, x_b, x_a, context, inverse):
        shift = self.shift_net(x_a, context)
        y_b = x_b + shift if inverse else x_b - shift
        return y_b, x_b.new_zeros(x_b.shape[0])
