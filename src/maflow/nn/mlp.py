"""A plain multilayer perceptron, optionally conditioned on a context vector."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from maflow.nn.made import ACTIVATIONS

__all__ = ["MLP"]

# False: plain; True: h + phi(W h + b); "scaled": that times 1/sqrt(2); "linear": over pre-activations.
RESIDUALS = (False, True, "scaled", "linear")
_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {**ACTIVATIONS, "leaky_relu": lambda: nn.LeakyReLU(0.2)}


class MLP(nn.Module):
    r"""Fully connected network; a context, if any, is concatenated to the input.

    Weights are drawn as :math:`\mathcal{N}(0, 1) / \sqrt{n_{in} + 1}` with zero biases, the
    initialisation of the MAF authors' feedforward (Real NVP) networks, or as PyTorch's
    ``nn.Linear`` draws them (``weight_init="torch"``). The output layer is linear.

    Arguments:
        in_features: Size of the input.
        out_features: Size of the output.
        hidden_features: Units per hidden layer: an int (repeated ``num_hidden_layers``
            times) or a sequence of ints.
        num_hidden_layers: Number of hidden layers when ``hidden_features`` is an int.
        context_features: Size of an optional context vector.
        activation: Hidden activation: one of :data:`maflow.nn.made.ACTIVATIONS` or
            ``"leaky_relu"`` (slope 0.2, as janosh/torch-mnf).
        weight_init: ``"maf"`` (the MAF authors') or ``"torch"`` (``nn.Linear``'s default).
        residual: ``True``: every hidden layer after the first adds its input to its output;
            ``"scaled"``: that sum times :math:`1/\sqrt{2}` (as :class:`~maflow.nn.MADE`'s);
            ``"linear"``: the sum runs over the first layer's pre-activation
            :math:`s_0 = W_0 x + b_0`, each further layer adding
            :math:`\phi(W_i \phi(s_{i-1}) + b_i)`, so the output keeps a linear path from the
            input at no extra parameters (at least two hidden layers). Each needs hidden layers
            of one width.
        dropout: Dropout probability after each hidden activation (0: none), as nflows'
            ``dropout_probability``; active in training mode only.
        near_zero_blocks: With a residual form, draw every hidden layer after the first from
            :math:`U(-10^{-3}, 10^{-3})` (weights and biases), so that each block starts near
            zero and the network near its skip path, as nflows' ``ResidualNet`` starts.

    Example:
        >>> net = MLP(3, 4, hidden_features=8, context_features=2)
        >>> net(torch.randn(5, 3), torch.randn(5, 2)).shape
        torch.Size([5, 4])
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_features: int | Sequence[int] = 64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        activation: str = "relu",
        weight_init: str = "maf",
        residual: bool | str = False,
        dropout: float = 0.0,
        near_zero_blocks: bool = False,
    ):
        super().__init__()
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if weight_init not in ("maf", "torch"):
            raise ValueError(f"unknown weight_init {weight_init!r}: use maf or torch")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: use one of {sorted(_ACTIVATIONS)}")
        if isinstance(hidden_features, int):
            hidden_features = [hidden_features] * num_hidden_layers
        sizes = [in_features + (context_features or 0), *hidden_features, out_features]
        if min(sizes) < 1:
            raise ValueError(f"every layer needs >= 1 unit, got sizes {sizes}")
        if residual not in RESIDUALS:
            raise ValueError(f"unknown residual {residual!r}: use False, True, 'scaled' or 'linear'")
        if residual and len(set(hidden_features)) != 1:
            raise ValueError(f"residual blocks need hidden layers of one width, got {list(hidden_features)}")
        self.context_features = context_features
        if residual == "linear" and len(hidden_features) < 2:
            raise ValueError("residual='linear' needs at least two hidden layers (one would be linear)")
        if near_zero_blocks and not residual:
            raise ValueError("near_zero_blocks is for the residual forms: pass residual too")
        self.use_residual(residual)
        layers: list[nn.Module] = []
        for index, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
            linear = nn.Linear(n_in, n_out)
            if weight_init == "maf":
                with torch.no_grad():
                    linear.weight.normal_().div_(math.sqrt(n_in + 1))
                    linear.bias.zero_()
            if near_zero_blocks and 0 < index < len(sizes) - 2:
                with torch.no_grad():
                    linear.weight.uniform_(-1e-3, 1e-3)
                    linear.bias.uniform_(-1e-3, 1e-3)
            layers.append(linear)
            if index < len(sizes) - 2:
                # Dropout rides with its activation: the residual forms index layers in pairs.
                act = _ACTIVATIONS[activation]()
                layers.append(nn.Sequential(act, nn.Dropout(dropout)) if dropout > 0 else act)
        self.network = nn.Sequential(*layers)

    def use_residual(self, residual: bool | str) -> None:
        """Switch the residual form (the weights stay: every form has the same parameters)."""
        self.residual = residual
        self.residual_scale = 2**-0.5 if residual == "scaled" else 1.0

    @property
    def output_layer(self) -> nn.Linear:
        return cast(nn.Linear, self.network[-1])

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        if self.context_features:
            if context is None:
                raise ValueError("this network is conditional: pass a context tensor")
            x = torch.cat([x, context], dim=-1)
        if not self.residual:
            return self.network(x)
        layers = list(self.network)
        if self.residual == "linear":
            s = layers[0](x)
            for linear, activation in zip(layers[2:-1:2], layers[3:-1:2]):
                s = s + activation(linear(activation(s)))
            return layers[-1](s)
        h = layers[1](layers[0](x))
        for linear, activation in zip(layers[2:-1:2], layers[3:-1:2]):
            h = (h + activation(linear(h))) * self.residual_scale
        return layers[-1](h)
