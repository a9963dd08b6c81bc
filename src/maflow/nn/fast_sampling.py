"""Exact inversion of a MADE-parameterised autoregressive map, each unit computed once in degree order."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["DegreePlan", "degree_plan", "made_inverse", "naive_inverse"]

# invert(y_part, params) -> (x_part, logabsdet_part): y_part and x_part are (batch, n) for the n
# inputs of one step, params is (batch, output_multiplier, n), logabsdet_part is (batch,).
Invert = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]

_IN_PLACE_ACTIVATIONS = {nn.ReLU: torch.relu_, nn.Tanh: torch.tanh_, nn.Sigmoid: torch.sigmoid_}


@dataclass(frozen=True)
class DegreePlan:
    """The schedule of :func:`made_inverse` for one set of MADE degrees.

    Inputs and the units of every layer are sorted by degree, so each step reads a prefix
    of the previous layer and writes a contiguous range of rows.

    Attributes:
        input_order: Inputs sorted by degree (stable).
        hidden_orders: For each hidden layer, its units sorted by degree.
        steps: One ``(start, stop, known_last, hidden)`` per step: the sorted inputs
            ``start:stop`` are solved from the first ``known_last`` sorted units of the last
            hidden layer; then, for each hidden layer, ``hidden[l] = (row_start, row_stop,
            known_previous)`` units are computed from the first ``known_previous`` sorted
            units (or inputs) of the layer below.
        prologue: Hidden rows computed before the first step (units of degree lower than
            every input), in the same ``(row_start, row_stop, known_previous)`` form.
    """

    input_order: Tensor
    hidden_orders: tuple[Tensor, ...]
    steps: tuple[tuple[int, int, int, tuple[tuple[int, int, int], ...]], ...]
    prologue: tuple[tuple[int, int, int], ...]


def degree_plan(made) -> DegreePlan:
    """Groups the inputs into as few sequential steps as the MADE's degrees allow.

    Consecutive input degrees share a step when no unit of the last hidden layer has a
    degree between them: the outputs of both then see the same, already computed, units.
    With ``H < D - 1`` sequential hidden degrees this gives ``H + 1`` steps instead of D.
    The plan is cached on the MADE and rebuilt when its degrees change.
    """
    degrees = made.degrees()
    key = tuple(int(d._version) for d in degrees) + tuple(id(d) for d in degrees)
    cached = getattr(made, "_degree_plan_cache", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    input_degrees = degrees[0].cpu().numpy()
    hidden = [d.cpu().numpy() for d in degrees[1:]]
    input_order = np.argsort(input_degrees, kind="stable")
    sorted_inputs = input_degrees[input_order]
    hidden_sorted = [np.sort(d, kind="stable") for d in hidden]
    last = hidden_sorted[-1]

    starts = [0]
    for position in range(1, len(sorted_inputs)):
        low, high = sorted_inputs[starts[-1]], sorted_inputs[position]
        # A last-layer unit of degree in [low, high) would be needed by this input but is
        # only known after the current step: start a new step.
        if np.searchsorted(last, high, "left") != np.searchsorted(last, low, "left"):
            starts.append(position)
    bounds = [*starts, len(sorted_inputs)]

    def hidden_rows(low: float, high: float) -> tuple[tuple[int, int, int], ...]:
        """Units of degree in [low, high] per layer, and how much of the layer below they read."""
        rows = []
        below = sorted_inputs
        for units in hidden_sorted:
            start = int(np.searchsorted(units, low, "left"))
            stop = int(np.searchsorted(units, high, "right"))
            rows.append((start, stop, int(np.searchsorted(below, high, "right"))))
            below = units
        return tuple(rows)

    steps = []
    for index, (start, stop) in enumerate(zip(bounds, bounds[1:])):
        low = sorted_inputs[start]
        known_last = int(np.searchsorted(last, low, "left"))
        if index + 1 < len(starts):
            hidden_step = hidden_rows(low, sorted_inputs[bounds[index + 1]] - 1)
        else:
            hidden_step = ()  # nothing reads the units computed after the last step
        steps.append((start, stop, known_last, hidden_step))
    plan = DegreePlan(
        input_order=torch.from_numpy(input_order),
        hidden_orders=tuple(torch.from_numpy(np.argsort(d, kind="stable")) for d in hidden),
        steps=tuple(steps),
        prologue=hidden_rows(-np.inf, sorted_inputs[0] - 1),
    )
    made._degree_plan_cache = (key, plan)
    return plan


def _fold_norm(norm: nn.Module, weight: Tensor, bias: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """``norm(W h + b)`` as ``W' h + b'`` for an evaluation-mode batch norm; also its gain."""
    if not isinstance(norm, nn.BatchNorm1d):
        return weight, bias if bias is not None else weight.new_zeros(weight.shape[0]), None
    gain = torch.rsqrt(norm.running_var + norm.eps)
    shift = -norm.running_mean * gain
    if norm.affine:
        gain, shift = gain * norm.weight, shift * norm.weight + norm.bias
    bias = shift if bias is None else bias * gain + shift
    return weight * gain[:, None], bias, gain


def _sorted_weights(made, plan: DegreePlan, device) -> tuple[list[tuple[Tensor, Tensor]], Tensor | None]:
    """Effective weights and biases (masks applied, norms folded) in degree order; the first layer's gain."""
    features, multiplier = made.features, made.output_multiplier
    orders = [plan.input_order.to(device), *(o.to(device) for o in plan.hidden_orders)]
    output_order = (orders[0][:, None] + features * torch.arange(multiplier, device=device)).reshape(-1)
    layers = [*made.hidden_layers, made.output_layer]
    norms = [*made.hidden_norms, made.output_norm]
    row_orders = [*orders[1:], output_order]
    weights, first_gain = [], None
    for index, (layer, norm, rows, columns) in enumerate(zip(layers, norms, row_orders, orders)):
        weight, bias, gain = _fold_norm(norm, layer.effective_weight(), layer.bias)
        weights.append((weight.index_select(0, rows).index_select(1, columns), bias.index_select(0, rows)))
        if index == 0 and gain is not None:
            first_gain = gain.index_select(0, rows)
    return weights, first_gain


def _fast_path_applies(made) -> bool:
    # Training-mode batch norm mixes the examples of a batch and dropout draws a fresh mask
    # per pass: neither is a function of the known inputs alone, so only the naive loop applies.
    return not (made.training and (made.normalization == "batch" or isinstance(made.dropout, nn.Dropout)))


def naive_inverse(made, y: Tensor, invert: Invert, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """The reference inverse: one full MADE pass per distinct input degree (D passes).

    Same arguments and results as :func:`made_inverse`; kept for tests and for MADEs in
    training mode with batch norm or dropout.
    """
    multiplier, features = made.output_multiplier, made.features
    degrees = made.input_degrees
    x = torch.zeros_like(y)
    logabsdet = y.new_zeros(y.shape[0])
    for degree in torch.unique(degrees).tolist():
        # Inputs of this degree depend only on inputs of lower degree, already filled in.
        index = (degrees == degree).nonzero().squeeze(-1)
        params = made(x, context).reshape(-1, multiplier, features).index_select(-1, index)
        x_part, logabsdet_part = invert(y.index_select(-1, index), params)
        x = x.index_copy(-1, index, x_part)
        logabsdet = logabsdet + logabsdet_part
    return x, logabsdet


def made_inverse(made, y: Tensor, invert: Invert, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
    r"""Solves :math:`x` from :math:`y_i = g(x_i; \theta_i(x_{<i}))` for a MADE :math:`\theta`.

    The naive inverse runs the whole MADE once per input degree, D full passes. Here a
    hidden unit of degree m, which depends only on inputs of degree <= m, is computed once,
    right after those inputs are known; outputs are computed once, from the units they
    see. The arithmetic is that of one masked forward pass, spread over at most D steps.
    The result is exact (the same operations as the naive inverse, up to summation order),
    and differentiable: under autograd it keeps per-step pieces instead of writing into
    buffers, so ``rsample`` gradients are correct.

    It serves every MADE-parameterised elementwise map: the sampling direction of MAF,
    NSF and MADE MoG, and the density of outside points for an IAF. Every MADE variant is
    covered: context (either mode), weight norm, batch norm in evaluation mode (folded into
    the weights), residual layers, dropout in evaluation mode. A MADE in training mode with
    batch norm or dropout falls back to :func:`naive_inverse`.

    Arguments:
        made: A :class:`maflow.nn.MADE`.
        y: A ``(batch, features)`` tensor.
        invert: ``invert(y_part, params) -> (x_part, logabsdet_part)`` inverts the
            elementwise map for the ``n`` inputs of one step; ``y_part`` is ``(batch, n)``,
            ``params`` is ``(batch, output_multiplier, n)`` (``params[:, j]`` is the
            ``j``-th output chunk of those inputs), ``logabsdet_part`` is ``(batch,)``.
        context: Context of a conditional MADE, ``(batch, context_features)``.

    Returns:
        ``x`` of the shape of ``y``, and the sum of the ``logabsdet_part`` over the steps.

    Example:
        >>> from maflow.nn import MADE
        >>> made = MADE(3, hidden_features=8, output_multiplier=2)
        >>> def invert(y, params):  # y = (x - mu) * exp(-alpha)
        ...     return y * params[:, 1].exp() + params[:, 0], params[:, 1].sum(-1)
        >>> y = torch.randn(4, 3)
        >>> x, logabsdet = made_inverse(made, y, invert)
        >>> mu, alpha = made(x).chunk(2, -1)
        >>> torch.allclose((x - mu) * (-alpha).exp(), y, atol=1e-5)
        True
    """
    if y.dim() != 2 or y.shape[-1] != made.features:
        raise ValueError(f"expected y of shape (batch, {made.features}), got {tuple(y.shape)}")
    if made.context_features and context is None:
        raise ValueError("this MADE is conditional: pass a context tensor")
    if not _fast_path_applies(made):
        return naive_inverse(made, y, invert, context)
    plan = degree_plan(made)
    weights, first_gain = _sorted_weights(made, plan, y.device)
    multiplier = made.output_multiplier
    input_order = plan.input_order.to(y.device)
    # Feature-major activations: every step writes contiguous rows and reads a row prefix.
    y_sorted = y.t().index_select(0, input_order)
    context_rows = added_context = None
    first_order = plan.hidden_orders[0].to(y.device)
    if made.context_layer is not None:
        context_rows = made.context_layer(context).t().index_select(0, first_order)
        if first_gain is not None:
            context_rows = context_rows * first_gain[:, None]
    elif made.context_features:  # "snf": added after the first activation
        added_context = context.t().index_select(0, first_order)
    differentiable = torch.is_grad_enabled() and (
        y.requires_grad
        or any(p.requires_grad for p in made.parameters())
        or (context is not None and context.requires_grad)
    )
    state = _Pieces(y, made) if differentiable else _Buffers(y, made)
    logabsdet = y.new_zeros(y.shape[0])

    def compute_hidden(rows: tuple[tuple[int, int, int], ...]) -> None:
        for layer, (start, stop, known) in enumerate(rows):
            if start == stop:
                continue
            weight, bias = weights[layer]
            bias = bias[start:stop, None]
            if layer == 0 and context_rows is not None:
                bias = bias + context_rows[start:stop]
            added, scale = None, 1.0
            if layer == 0 and added_context is not None:
                added = added_context[start:stop]
            elif layer > 0 and made.residual:
                added, scale = state.rows(layer, start, stop), made.residual_scale
            state.hidden(layer, start, stop, known, weight[start:stop, :known], bias, added, scale)

    compute_hidden(plan.prologue)
    for start, stop, known_last, hidden_rows in plan.steps:
        weight, bias = weights[-1]
        rows = slice(start * multiplier, stop * multiplier)
        params = state.linear(bias[rows, None], weight[rows, :known_last], state.prefix(-1, known_last))
        params = params.reshape(stop - start, multiplier, -1).permute(2, 1, 0)
        x_part, logabsdet_part = invert(y_sorted[start:stop].t(), params)
        logabsdet = logabsdet + logabsdet_part
        state.solved(start, stop, x_part.t())
        compute_hidden(hidden_rows)
    x_sorted = state.inputs()
    return x_sorted.t().index_select(1, torch.argsort(input_order)), logabsdet


class _Buffers:
    """Preallocated feature-major activations written in place (no autograd)."""

    def __init__(self, y: Tensor, made):
        batch = y.shape[0]
        self.x = y.new_empty(made.features, batch)
        self.layers = [self.x, *(y.new_empty(units, batch) for units in made.hidden_features)]
        self.activation = made.activation
        self.in_place = _IN_PLACE_ACTIVATIONS.get(type(made.activation))

    def prefix(self, layer: int, known: int) -> Tensor:
        return self.layers[layer][:known]

    @staticmethod
    def linear(bias: Tensor, weight: Tensor, inputs: Tensor) -> Tensor:
        return torch.addmm(bias, weight, inputs)

    def solved(self, start: int, stop: int, x_part: Tensor) -> None:
        self.x[start:stop].copy_(x_part)

    def rows(self, layer: int, start: int, stop: int) -> Tensor:
        return self.layers[layer][start:stop]

    def hidden(
        self, layer: int, start: int, stop: int, known: int, weight: Tensor, bias: Tensor, added, scale: float
    ) -> None:
        out = self.layers[layer + 1][start:stop]
        torch.addmm(bias, weight, self.layers[layer][:known], out=out)
        if self.in_place is not None:
            self.in_place(out)
        elif not isinstance(self.activation, nn.Identity):
            out.copy_(self.activation(out))
        if added is not None:
            out.add_(added)
        if scale != 1.0:
            out.mul_(scale)

    def inputs(self) -> Tensor:
        return self.x


class _Pieces:
    """Activations kept as lists of per-step pieces, so that autograd sees no in-place writes."""

    def __init__(self, y: Tensor, made):
        self.batch = y.shape[0]
        self.empty = y.new_zeros(0, self.batch)
        self.layers: list[list[Tensor]] = [[] for _ in range(len(made.hidden_features) + 1)]
        self.activation = made.activation

    def prefix(self, layer: int, known: int) -> Tensor:
        pieces = self.layers[layer]
        prefix = torch.cat(pieces) if pieces else self.empty
        if prefix.shape[0] != known:
            raise RuntimeError(f"degree plan out of step: {prefix.shape[0]} units known, expected {known}")
        return prefix

    @staticmethod
    def linear(bias: Tensor, weight: Tensor, inputs: Tensor) -> Tensor:
        return torch.addmm(bias, weight, inputs)

    def solved(self, start: int, stop: int, x_part: Tensor) -> None:
        self.layers[0].append(x_part)

    def rows(self, layer: int, start: int, stop: int) -> Tensor:
        return torch.cat(self.layers[layer])[start:stop]

    def hidden(
        self, layer: int, start: int, stop: int, known: int, weight: Tensor, bias: Tensor, added, scale: float
    ) -> None:
        out = self.activation(torch.addmm(bias.expand(-1, self.batch), weight, self.prefix(layer, known)))
        if added is not None:
            out = out + added
        self.layers[layer + 1].append(out if scale == 1.0 else out * scale)

    def inputs(self) -> Tensor:
        return torch.cat(self.layers[0])
