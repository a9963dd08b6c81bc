"""The IAF posterior of a VAE: a diagonal Gaussian refined by gated MADE steps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from maflow.nn.made import NORMALIZATIONS
from maflow.nn.masked import WeightNormMaskedLinear
from maflow.transforms.base import Transform
from maflow.transforms.elementwise import ElementwiseMap, Gated, Inverted, Shift
from maflow.transforms.iaf import InverseAutoregressive
from maflow.transforms.naf import DeepSigmoid
from maflow.transforms.residual import Planar, Radial
from maflow.transforms.sylvester import Sylvester

__all__ = ["WeightNormMaskedLinear", "IAFStep", "FlowPosterior", "IAFPosterior", "POSTERIORS"]

POSTERIORS = (
    "iaf",
    "naf",
    "planar",
    "radial",
    "sylvester-orthogonal",
    "sylvester-householder",
    "sylvester-triangular",
    "diagonal",
)


class IAFStep(InverseAutoregressive):
    r"""One gated IAF step :math:`z' = \sigma(s) \odot z + (1 - \sigma(s)) \odot m`, ``(m, s) = MADE(z, h)``.

    An :class:`maflow.transforms.InverseAutoregressive` layer whose MADE is set up as in
    karstenkreis/flow_vae: hidden layers are masked linear, normalisation, ELU, Glorot
    initialised; with ``context_mode="snf"`` the encoder context ``h`` is added after the
    first activation (its size must equal the first hidden width), with ``"linear"`` it
    enters the first pre-activation through an unmasked linear map. ``inverse`` is the
    cheap sampling direction (one MADE pass, log-det :math:`\sum_i \log \sigma(s_i)`) and
    ``forward`` the density direction (each MADE unit once, in degree order; with batch
    norm in training mode, one pass per latent dimension). Batch norm couples the examples
    of a batch in training mode; the log-det is exact in evaluation mode. The gate starts
    near one: with batch norm the ``s`` outputs' batch-norm shift starts at ``gate_bias``
    (3, as karstenkreis/flow_vae), without it the ``s`` bias does (2); with weight norm,
    whose initialisation normalises ``s``, ``gate_bias`` is added to ``s`` inside the gate.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        features: Latent size L.
        hidden_features: Widths of the MADE's hidden layers.
        context_features: Size of the context ``h``.
        normalization: ``"batch"`` (karstenkreis/flow_vae), ``"weight"`` (weight norm with
            data-dependent initialisation, the IAF paper) or ``"none"``.
        context_mode: ``"snf"`` or ``"linear"``.
        order: ``"natural"`` or ``"reversed"`` (or a permutation) of the autoregressive order.
        gate_bias: Initial bias of ``s``; ``None`` picks 3 with batch norm, 2 otherwise.
        shift_only: Use :math:`z' = z + m` (log-det 0) instead of the gated update.
        map: Another element-wise map, read in the density direction (for example
            ``Inverted(DeepSigmoid())``, whose sampling direction is the one-pass deep
            sigmoidal map of the NAF paper's IAF-style posterior).

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
        map: ElementwiseMap | None = None,
    ):
        if normalization not in NORMALIZATIONS:
            raise ValueError(f"unknown normalization {normalization!r}: use one of {NORMALIZATIONS}")
        if gate_bias is None:
            gate_bias = 3.0 if normalization == "batch" else 2.0
        hidden_features = [int(h) for h in hidden_features]
        if not hidden_features:
            raise ValueError("an IAF step's MADE needs at least one hidden layer")
        if map is None:
            map = Shift() if shift_only else Gated(gate_bias if normalization == "weight" else 0.0)
        super().__init__(
            features,
            hidden_features=hidden_features,
            map=map,
            gate_bias=gate_bias,
            context_features=context_features,
            context_mode=context_mode,
            order=order,
            activation="elu",
            normalization=normalization,
            weight_init="xavier",
        )
        self.shift_only = shift_only
        self.gate_bias = float(gate_bias)
        if normalization == "batch" and isinstance(map, Gated):
            with torch.no_grad():
                self.made.output_norm.bias[features:] = self.gate_bias
        self._register_load_state_dict_pre_hook(_two_heads_to_one, with_module=True)


def _two_heads_to_one(module: IAFStep, state: dict, prefix: str, *args) -> None:
    """Reads checkpoints written before the one MADE: separate ``m``/``s`` heads and norms, fewer degree buffers."""
    made = prefix + "made."
    if made + "m_head.weight" not in state:
        return
    rows = module.made.output_layer.weight.shape[0]  # D for a shift-only step, 2D otherwise
    for (first, second), target in (
        (("m_head.", "s_head."), "output_layer."),
        (("m_norm.", "s_norm."), "output_norm."),
    ):
        names = {key[len(made + first) :] for key in state if key.startswith(made + first)}
        for name in names:
            one, two = state.pop(made + first + name), state.pop(made + second + name, None)
            if two is None or one.dim() == 0:  # flags and counters: one value serves both halves
                state[made + target + name] = one
            else:
                state[made + target + name] = torch.cat([one, two])[:rows]
    for name, buffer in module.made.named_buffers():
        if name.startswith("hidden_degrees_"):  # a function of the order and the widths, not trained
            state.setdefault(made + name, buffer.clone())


class FlowPosterior(nn.Module):
    r"""q(z|x): a diagonal Gaussian :math:`z_0 = \mu + e^{\log\sigma + c}\epsilon`, then ``num_steps`` flow steps.

    The constant offset ``c`` (karstenkreis/flow_vae: -3) makes the initial posterior
    narrow. The steps are a choice (``flow``): gated IAF steps (orders alternating between
    natural and reversed), IAF-style deep sigmoidal steps (``"naf"``), planar, radial, or
    Sylvester steps (orthogonal with 8 orthonormal vectors, Householder with 8 reflections, as
    the Sylvester paper's MNIST runs, or triangular), all amortised on the encoder's context
    ``h``; ``"diagonal"`` has none.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934
        | Neural Autoregressive Flows (Huang et al., 2018)
        | https://arxiv.org/abs/1804.00779
        | Variational Inference with Normalizing Flows (Rezende and Mohamed, 2015)
        | https://arxiv.org/abs/1505.05770
        | Sylvester Normalizing Flows for Variational Inference (van den Berg et al., 2018)
        | https://arxiv.org/abs/1803.05649

    Arguments:
        features: Latent size L.
        context_features: Size of the encoder context ``h`` (ignored when ``num_steps=0``).
        num_steps: Number of flow steps (0 gives the plain diagonal Gaussian posterior).
        hidden_features: Hidden widths of each step's MADE (``iaf``, ``naf``).
        normalization, context_mode, gate_bias, shift_only: Passed to :class:`IAFStep`.
        log_std_offset: The constant ``c`` added to the encoder's log-std.
        flow: One of ``POSTERIORS``.
        sigmoid_units: Of each ``naf`` step's deep sigmoidal map.

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
        flow: str = "iaf",
        sigmoid_units: int = 8,
    ):
        super().__init__()
        if flow not in POSTERIORS:
            raise ValueError(f"unknown posterior flow {flow!r}: use one of {', '.join(POSTERIORS)}")
        self.features = features
        self.log_std_offset = float(log_std_offset)
        made = dict(
            hidden_features=hidden_features,
            context_features=context_features,
            normalization=normalization,
            context_mode=context_mode,
            gate_bias=gate_bias,
            shift_only=shift_only,
        )
        count = 0 if flow == "diagonal" else num_steps
        self.steps = nn.ModuleList(
            _posterior_step(flow, index, features, context_features, made, sigmoid_units)
            for index in range(count)
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


IAFPosterior = FlowPosterior  # the name before the posterior became a choice


def _posterior_step(
    flow: str, index: int, features: int, context_features: int, made: dict, units: int
) -> Transform:
    """Step ``index`` of a posterior flow; its ``inverse`` is the sampling direction."""
    order = "natural" if index % 2 == 0 else "reversed"
    if flow == "iaf":
        return IAFStep(features, order=order, **made)
    if flow == "naf":
        return IAFStep(features, order=order, map=Inverted(DeepSigmoid(units)), **made)
    if flow == "planar":
        return Planar(features, context_features)
    if flow == "radial":
        return Radial(features, context_features)
    kind = flow.removeprefix("sylvester-")
    # 8 orthonormal vectors or 8 reflections per step, as the Sylvester paper's MNIST runs.
    vectors = None if kind == "triangular" else min(8, features)
    return Sylvester(features, kind, vectors, reverse=index % 2 == 1, context_features=context_features)
