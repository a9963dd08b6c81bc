"""MADE: a masked autoencoder for distribution estimation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from maflow.nn.masked import MaskedLinear, WeightNormMaskedLinear

__all__ = ["MADE", "ACTIVATIONS", "NORMALIZATIONS", "input_degrees", "hidden_degrees"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "logistic": nn.Sigmoid,
    "softplus": nn.Softplus,
    "elu": nn.ELU,
    "linear": nn.Identity,
}

NORMALIZATIONS = ("none", "batch", "weight")
CONTEXT_MODES = ("linear", "snf")
WEIGHT_INITS = ("maf", "xavier", "torch", "orthogonal")


def input_degrees(features: int, order, rng: np.random.RandomState) -> np.ndarray:
    """Degrees 1..D of the inputs: input ``i`` is generated ``degree[i]``-th.

    ``order`` is ``"natural"``, ``"reversed"``, ``"random"`` or a permutation of
    ``range(features)`` listing the inputs in the order they are generated.
    """
    if isinstance(order, str):
        if order in ("natural", "sequential"):
            return np.arange(1, features + 1)
        if order == "reversed":
            return np.arange(features, 0, -1)
        if order == "random":
            return rng.permutation(features) + 1
        raise ValueError(f"unknown order {order!r}: use natural, reversed, random or a permutation")
    order = np.asarray(order, dtype=np.int64)
    if sorted(order.tolist()) != list(range(features)):
        raise ValueError(f"order must be a permutation of range({features}), got {order.tolist()}")
    degrees = np.empty(features, dtype=np.int64)
    degrees[order] = np.arange(1, features + 1)
    return degrees


def hidden_degrees(
    units: int, features: int, previous: np.ndarray, mode: str, rng: np.random.RandomState
) -> np.ndarray:
    """Degrees of one hidden layer, in 1..D-1 (1 when D = 1)."""
    top = max(features - 1, 1)
    if mode == "sequential":
        # Cycling keeps every degree represented even when units < D (MAF authors' code).
        return np.arange(units) % top + 1
    if mode == "random":
        low = min(int(previous.min()), top)
        return rng.randint(low, top + 1, size=units)
    raise ValueError(f"unknown hidden degree mode {mode!r}: use sequential or random")


class MADE(nn.Module):
    r"""Masked autoencoder: output ``i`` depends only on inputs generated before input ``i``.

    The output has ``output_multiplier * features`` units laid out as contiguous chunks of
    ``features``: ``out[..., j * features + i]`` is the ``j``-th parameter of input ``i``.
    Hidden units connect to units of lower or equal degree; the outputs of input ``i`` see
    only hidden units of strictly lower degree, so they never depend on input ``i`` itself.
    A hidden layer computes ``activation(norm(W h + b [+ C c]))``; with ``residual`` every
    hidden layer after the first adds its input back, and ``dropout`` acts after each
    activation. Every variant the library uses (MAF, IAF, NSF, MADE MoG, the binary MADE and
    the VAE's IAF steps) is this one class.

    References:
        | MADE: Masked Autoencoder for Distribution Estimation (Germain et al., 2015)
        | https://arxiv.org/abs/1502.03509

    Arguments:
        features: Number of inputs D (>= 1).
        hidden_features: Units per hidden layer: an int (repeated ``num_hidden_layers``
            times) or a sequence of ints, one per hidden layer.
        num_hidden_layers: Number of hidden layers when ``hidden_features`` is an int.
        output_multiplier: Number k of outputs per input.
        context_features: Size of an optional context vector (a conditional MADE).
        context_mode: ``"linear"``: the context enters the first pre-activation through an
            unmasked linear map; ``"snf"``: it is added after the first activation (as in
            karstenkreis/flow_vae), so its size must equal the first hidden width.
        order: ``"natural"``, ``"reversed"``, ``"random"`` or an explicit permutation
            listing the inputs in generation order.
        hidden_degrees: ``"sequential"`` (cycling, as the MAF code) or ``"random"``
            (as the MADE paper).
        activation: Name of the hidden activation (see ``ACTIVATIONS``).
        normalization: ``"none"``, ``"batch"`` (batch norm after every masked layer, the
            output layer included, as karstenkreis/flow_vae) or ``"weight"`` (weight norm
            with data-dependent initialisation, as the IAF paper).
        residual: ``True``: add each hidden layer's input to its output (hidden layers after
            the first; all hidden layers must have the same width and share degrees);
            ``"scaled"``: the same sum times :math:`1/\sqrt{2}`, which keeps the hidden units'
            scale from growing with every block.
        dropout: Dropout probability after each hidden activation.
        identity_start: Zero the output layer's weights and biases, so that the output is
            a constant at initialisation (a transform then picks the constant that makes
            it the identity map).
        weight_init: ``"maf"`` (:math:`\mathcal{N}(0, 1)/\sqrt{n_{in} + 1}`, as the MAF code),
            ``"xavier"`` (Glorot uniform per output chunk, as karstenkreis/flow_vae) or
            ``"torch"`` (``nn.Linear``'s default, :math:`U(\pm 1/\sqrt{n_{in}})` weights and
            biases, as nflows and zuko) or ``"orthogonal"`` (orthogonal weight matrices before
            masking and zero biases, the MADE authors' best runs in mgermain/MADE).
        num_masks: Number of seeded order/connectivity draws that ``update_masks()``
            cycles through (connectivity-agnostic training).
        seed: Seed of the random orders and degrees.

    Example:
        >>> made = MADE(5, hidden_features=16, output_multiplier=2)
        >>> made(torch.randn(3, 5)).shape
        torch.Size([3, 10])
    """

    input_degrees: torch.Tensor

    def __init__(
        self,
        features: int,
        hidden_features: int | Sequence[int] = 512,
        num_hidden_layers: int = 2,
        output_multiplier: int = 1,
        context_features: int | None = None,
        context_mode: str = "linear",
        order="natural",
        hidden_degrees: str = "sequential",
        activation: str = "relu",
        normalization: str = "none",
        residual: bool | str = False,
        dropout: float = 0.0,
        identity_start: bool = False,
        weight_init: str = "maf",
        num_masks: int = 1,
        seed: int = 0,
    ):
        super().__init__()
        if isinstance(hidden_features, int):
            hidden_features = [hidden_features] * num_hidden_layers
        hidden_features = [int(h) for h in hidden_features]
        _check_options(
            features, hidden_features, output_multiplier, context_features, context_mode, activation,
            normalization, residual, dropout, weight_init, num_masks,
        )  # fmt: skip
        self.features = features
        self.hidden_features = hidden_features
        self.output_multiplier = output_multiplier
        self.context_features = context_features
        self.context_mode = context_mode
        self.order = order if isinstance(order, str) else list(order)
        self.hidden_degree_mode = hidden_degrees
        self.normalization = normalization
        self.use_residual(residual)
        self.num_masks = num_masks
        self.seed = seed
        self.mask_index = 0

        sizes = [features, *hidden_features, output_multiplier * features]
        linear = WeightNormMaskedLinear if normalization == "weight" else MaskedLinear
        bias = normalization != "batch"  # batch norm's shift replaces the bias
        layers = [linear(n_in, n_out, torch.ones(n_out, n_in), bias) for n_in, n_out in zip(sizes, sizes[1:])]
        self.hidden_layers = nn.ModuleList(layers[:-1])
        self.output_layer = layers[-1]
        norm = nn.BatchNorm1d if normalization == "batch" else lambda units: nn.Identity()
        self.hidden_norms = nn.ModuleList(norm(units) for units in hidden_features)
        self.output_norm = norm(sizes[-1])
        self.activation = ACTIVATIONS[activation]()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.context_layer = (
            nn.Linear(context_features, hidden_features[0], bias=False)
            if context_features and context_mode == "linear"
            else None
        )
        self.register_buffer("input_degrees", torch.zeros(features, dtype=torch.long))
        for index, units in enumerate(hidden_features):
            self.register_buffer(f"hidden_degrees_{index}", torch.zeros(units, dtype=torch.long))
        self._set_masks(0)
        self._initialise(weight_init, identity_start)

    @torch.no_grad()
    def _initialise(self, weight_init: str, identity_start: bool) -> None:
        if weight_init == "xavier" and self.normalization != "weight":
            for layer in self.hidden_layers:
                nn.init.xavier_uniform_(layer.weight)
            for chunk in self.output_layer.weight.split(self.features):
                nn.init.xavier_uniform_(chunk)
        if weight_init == "torch" and self.normalization != "weight":
            for layer in [*self.hidden_layers, self.output_layer]:
                nn.Linear.reset_parameters(layer)
        if weight_init == "orthogonal" and self.normalization != "weight":
            for layer in [*self.hidden_layers, self.output_layer]:
                nn.init.orthogonal_(layer.weight)
                if layer.bias is not None:
                    layer.bias.zero_()
        if identity_start:
            self.output_layer.weight.zero_()
            if self.output_layer.bias is not None:
                self.output_layer.bias.zero_()

    def degrees(self) -> list[Tensor]:
        """Degrees of the inputs, then of each hidden layer."""
        hidden = [getattr(self, f"hidden_degrees_{i}") for i in range(len(self.hidden_features))]
        return [self.input_degrees, *hidden]

    def _set_masks(self, index: int) -> None:
        # numpy's legacy generator takes 0 to 2**32 - 1; the fold leaves every seed below that as it was
        rng = np.random.RandomState((self.seed + index) % 2**32)
        degrees = [input_degrees(self.features, self.order, rng)]
        for units in self.hidden_features:
            if self.residual and len(degrees) > 1:
                degrees.append(degrees[-1])  # a residual sum needs equal degrees on both sides
            else:
                degrees.append(
                    hidden_degrees(units, self.features, degrees[-1], self.hidden_degree_mode, rng)
                )
        for layer, (d_in, d_out) in zip(self.hidden_layers, zip(degrees, degrees[1:])):
            layer.set_mask(torch.from_numpy((d_out[:, None] >= d_in[None, :]).astype(np.float32)))
        output_mask = (degrees[0][:, None] > degrees[-1][None, :]).astype(np.float32)
        self.output_layer.set_mask(torch.from_numpy(np.tile(output_mask, (self.output_multiplier, 1))))
        for buffer, values in zip(self.degrees(), degrees):
            buffer.copy_(torch.from_numpy(np.asarray(values, dtype=np.int64)))
        self.mask_index = index

    def use_residual(self, residual: bool | str) -> None:
        """Switch the residual form (the masks stay: a residual MADE's degrees suit every form)."""
        self.residual = bool(residual)
        self.residual_scale = 2**-0.5 if residual == "scaled" else 1.0

    def update_masks(self) -> None:
        """Move to the next of the ``num_masks`` seeded order/connectivity draws."""
        if self.num_masks > 1:
            self._set_masks((self.mask_index + 1) % self.num_masks)

    def set_mask_index(self, index: int) -> None:
        """Use the ``index``-th of the ``num_masks`` draws."""
        if not 0 <= index < self.num_masks:
            raise ValueError(f"mask index must be in [0, {self.num_masks}), got {index}")
        self._set_masks(index)

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        if self.context_features and context is None:
            raise ValueError("this MADE is conditional: pass a context tensor")
        h = x
        for index, (layer, norm) in enumerate(zip(self.hidden_layers, self.hidden_norms)):
            out = layer(h)
            if index == 0 and self.context_layer is not None:
                out = out + self.context_layer(context)
            out = self.dropout(self.activation(norm(out)))
            if index == 0 and self.context_features and self.context_mode == "snf":
                out = out + context
            if self.residual and index > 0:
                h = h + out if self.residual_scale == 1.0 else (h + out) * self.residual_scale
            else:
                h = out
        return self.output_norm(self.output_layer(h))


def _check_options(
    features, hidden_features, output_multiplier, context_features, context_mode, activation,
    normalization, residual, dropout, weight_init, num_masks,
) -> None:  # fmt: skip
    if features < 1:
        raise ValueError(f"features must be >= 1, got {features}")
    if not hidden_features or min(hidden_features) < 1:
        raise ValueError(f"need at least one hidden layer of >= 1 units, got {hidden_features}")
    if output_multiplier < 1:
        raise ValueError(f"output_multiplier must be >= 1, got {output_multiplier}")
    if num_masks < 1:
        raise ValueError(f"num_masks must be >= 1, got {num_masks}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}: use one of {sorted(ACTIVATIONS)}")
    if normalization not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {normalization!r}: use one of {NORMALIZATIONS}")
    if context_mode not in CONTEXT_MODES:
        raise ValueError(f"unknown context_mode {context_mode!r}: use one of {CONTEXT_MODES}")
    if weight_init not in WEIGHT_INITS:
        raise ValueError(f"unknown weight_init {weight_init!r}: use one of {WEIGHT_INITS}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if residual not in (False, True, "scaled"):
        raise ValueError(f"unknown residual {residual!r}: use False, True or 'scaled'")
    if residual and len(set(hidden_features)) != 1:
        raise ValueError(f"residual blocks need hidden layers of one width, got {hidden_features}")
    if context_features and context_mode == "snf" and context_features != hidden_features[0]:
        raise ValueError(
            f"context_mode='snf' adds the context to the first hidden layer: context_features "
            f"({context_features}) must equal hidden_features[0] ({hidden_features[0]})"
        )
