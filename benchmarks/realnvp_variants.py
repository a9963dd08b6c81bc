"""Real NVP variants of ``benchmarks/quality_zoo.py``: maflow's builder and one-factor changes around it.

Each function takes a built flow (or features and a ``quality.SETUPS`` entry) and returns the
variant; ``benchmarks/realnvp_runs.py`` names the combinations that were run.
"""

from __future__ import annotations

import math

import torch

from maflow.transforms.base import Transform
from maflow.transforms.linear import random_orthogonal

# The bounded scale's recipe (RealNVP's arguments that default to it), for another scale.
BOUNDED_RECIPE = dict(
    mask="alternate", residual="linear", identity_start=False, final_batch_norm=False, near_zero_blocks=True
)

# The MAF paper's Real NVP (maflow's default until the runs recorded here): two nets per layer.
PAPER_REALNVP = dict(scale="exp", identity_start=False, weight_init="maf")


def default_realnvp(features, setup, **options):
    """``RealNVP`` with the setup's sizes and the library's defaults of the day."""
    from maflow.models import RealNVP

    sizes = dict(
        num_layers=setup["layers"], hidden_features=setup["hidden"], num_hidden_layers=setup["depth"]
    )
    return RealNVP(features, **sizes, **{"batch_norm": setup["bn"], **options})


def softplus_realnvp(features, setup, **options):
    """The softplus recipe, the default with batch norm until the tenth round: rounds 8-9's base.

    With batch norm the default became the bounded recipe (docs/decisions.md, "Real NVP's
    bounded coupling"); pinning the scale keeps every variant built on the earlier default,
    and so its recorded numbers, as it was (without batch norm the two are the same model).
    """
    return default_realnvp(features, setup, **{"scale": "softplus", **options})


def alternating_realnvp(features, setup, **options):
    """The softplus default with the even/odd masks, its masks until the eighth round: the earlier rounds' base."""
    return softplus_realnvp(features, setup, **{"mask": "alternate", **options})


def maflow_realnvp(features, setup, **options):
    """The variants' base: the default they were recorded against, started exactly as the identity.

    ``start_noise`` became the default (0.1) after most variants had run, and random masks
    after all of them; pinning both keeps every variant's draws, and so its recorded numbers,
    as they were.
    """
    return alternating_realnvp(features, setup, **{"start_noise": 0.0, **options})


def exp_map_realnvp(features, setup):
    """The default's layers with a soft-bounded exp map (shift before the scale) instead of softplus."""
    from maflow.transforms.elementwise import Affine

    flow = maflow_realnvp(features, setup)
    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            module.map = Affine(scale_bound="soft")  # same parameter count: the weights still fit
    return flow


class _ResidualConditioner(torch.nn.Module):
    """nflows' ResidualNet shape: linear in, pre-activation residual blocks, linear out (a linear path)."""

    def __init__(
        self,
        n_in: int,
        n_out: int,
        hidden: int,
        blocks: int,
        block_layers: int = 2,
        relu_out=False,
        small_blocks=True,
    ):
        super().__init__()
        self.initial_layer = torch.nn.Linear(n_in, hidden)
        self.blocks = torch.nn.ModuleList()
        for _ in range(blocks):
            layers = [(torch.nn.ReLU(), torch.nn.Linear(hidden, hidden)) for _ in range(block_layers)]
            block = torch.nn.Sequential(*[m for pair in layers for m in pair])
            if small_blocks:  # each block starts near zero, as nflows'
                with torch.no_grad():
                    block[-1].weight.uniform_(-1e-3, 1e-3)
                    block[-1].bias.uniform_(-1e-3, 1e-3)
            if relu_out:  # a ReLU closing the block: as many ReLUs as the MLP, the linear path kept
                block.append(torch.nn.ReLU())
            self.blocks.append(block)
        self.output_layer = torch.nn.Linear(hidden, n_out)

    def forward(self, x, context=None):
        h = self.initial_layer(x)
        for block in self.blocks:
            h = h + block(h)
        return self.output_layer(h)


class _SkipConditioner(torch.nn.Module):
    """maflow's MLP plus a linear map from its input to its output (started at zero)."""

    def __init__(self, mlp, n_in: int, n_out: int):
        super().__init__()
        self.mlp = mlp
        self.skip = torch.nn.Linear(n_in, n_out)
        with torch.no_grad():
            self.skip.weight.zero_()
            self.skip.bias.zero_()

    @property
    def output_layer(self):
        return self.mlp.output_layer

    def forward(self, x, context=None):
        return self.mlp(x) + self.skip(x)


def swap_conditioners(flow, setup, kind: str):
    """Every coupling layer's MLP replaced by a residual net (``resnet``) or given a linear ``skip``."""
    for module in flow.modules():
        if not hasattr(module, "conditioner"):
            continue
        old = module.conditioner
        n_in, n_out = module.num_identity, old.output_layer.out_features
        if kind == "skip":
            module.conditioner = _SkipConditioner(old, n_in, n_out)
            continue
        # resnet: nflows' shape (depth - 1 blocks of two layers: one more layer than the MLP);
        # resnet-1: blocks of one layer, as many layers as the MLP (the same cost), one ReLU
        # fewer; resnet-2relu: resnet-1 with a ReLU after each block, as many ReLUs as the MLP
        # (at depth 2 the output layer sees W0 x + relu(W1 relu(W0 x)): the MLP's last hidden
        # layer plus its first layer's pre-activation; a ReLU before the block would be a no-op)
        # A "-t" suffix: the blocks keep PyTorch's init instead of starting near zero.
        shape = kind.removesuffix("-t")
        block_layers = 2 if shape == "resnet" else 1
        new = _ResidualConditioner(
            n_in,
            n_out,
            setup["hidden"],
            max(setup["depth"] - 1, 1),
            block_layers,
            shape == "resnet-2relu",
            small_blocks=not kind.endswith("-t"),
        )
        with torch.no_grad():  # the same identity start as the MLP it replaces
            new.output_layer.weight.copy_(old.output_layer.weight)
            new.output_layer.bias.copy_(old.output_layer.bias)
        module.conditioner = new
    return flow


def residual_conditioners(flow, residual="scaled"):
    """Every coupling MLP with residual hidden blocks, as MAF's MADEs (``maflow.nn.MLP(residual=...)``)."""
    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module.conditioner, "residual_scale"):
            module.conditioner.residual = True
            module.conditioner.residual_scale = 2**-0.5 if residual == "scaled" else 1.0
    return flow


def zuko_scale(flow):
    """The default's layers with zuko's scale: exp of a log-scale softly bounded at log(1e-3), shift after."""
    from maflow.transforms.elementwise import ElementwiseMap

    class ZukoAffine(ElementwiseMap):  # zuko.transforms.MonotonicAffineTransform, slope 1e-3
        params_per_dim = 2

        def _split(self, params):
            a = params[..., 1]
            return params[..., 0], a / (1 + abs(a / math.log(1e-3)))

        def forward(self, x, params):
            shift, log_scale = self._split(params)
            return x * log_scale.exp() - shift, log_scale

        def inverse(self, y, params):
            shift, log_scale = self._split(params)
            return (y + shift) * (-log_scale).exp(), -log_scale

        def identity_parameters(self):
            return torch.zeros(2)

    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            module.map = ZukoAffine()
            with torch.no_grad():  # identity start: the output weights are zero, the biases now too
                module.conditioner.output_layer.bias.zero_()
    return flow


def bn_between(flow):
    """Batch norm only between coupling layers (nflows' ``SimpleRealNVP``), not after the last."""
    from maflow.transforms.batchnorm import BatchNorm

    layers = flow.transform.transforms
    if isinstance(layers[-1], BatchNorm):
        del layers[-1]
    return flow


def running_statistics(flow):
    """Evaluate with the batch-norm running averages (nflows') instead of whole-training-set statistics."""
    flow.quality_bn_stats = "running"
    return flow


def sigmoid_scale(flow):
    """The two-net layers with Glow's sigmoid factor instead of exp (no constructor option for it)."""
    for module in flow.modules():
        if hasattr(module, "scale_net"):
            module.scale = "sigmoid"
    return flow


def no_identity(flow):
    """PyTorch's init for every coupling conditioner's output layer instead of the identity start."""
    for module in flow.modules():
        if hasattr(module, "conditioner"):
            module.conditioner.output_layer.reset_parameters()
    return flow


def with_scale(flow, max_scale: float, offset: float):
    """Every coupling layer's scale as max_scale * sigmoid(a + offset) + 1e-3, the shift after it."""
    from maflow.transforms.elementwise import SigmoidAffine

    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            module.map = SigmoidAffine(max_scale=max_scale, offset=offset, shift="after")
    return flow


def with_scale_from_identity(flow, max_scale: float, offset: float):
    """``with_scale``, still started as the identity: the output biases re-set for the new map."""
    flow = with_scale(flow, max_scale, offset)
    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            with torch.no_grad():
                bias = module.conditioner.output_layer.bias
                bias.copy_(module.map.identity_parameters().repeat(bias.numel() // 2))
    return flow


# name -> (max_scale, offset): nflows' sigmoid(a + 2) (density-direction scale below 1), one
# centred on the identity (0 to 2), and two between them
SIGMOID_SCALES = {
    "sigmoid": (1.0, 2.0),
    "sigmoid2": (2.0, 0.0),
    "sig1.5o1": (1.5, 1.0),
    "sig1.2o1.5": (1.2, 1.5),
}


def grid_variant(features, setup, conditioner: str, scale: str, mask: str = "alternate"):
    """No identity start, the given conditioner (``mlp`` or a ``swap_conditioners`` kind), scale and masks."""
    flow = maflow_realnvp(features, setup, mask=mask)
    if conditioner in ("res", "res-sum"):
        flow = residual_conditioners(flow, "scaled" if conditioner == "res" else True)
    elif conditioner != "mlp":
        flow = swap_conditioners(flow, setup, conditioner)
    if scale == "zuko":
        flow = zuko_scale(flow)
    elif scale != "softplus":
        flow = with_scale(flow, *SIGMOID_SCALES[scale])
    return no_identity(flow)


def with_rates(flow, shift_rate: float, scale_rate: float, identity_start: bool = True):
    """Every coupling layer's map as softplus(scale_rate * a) + 1e-3, shift shift_rate * m after it.

    Under Adam, multiplying a conditioner output by a rate changes how fast it learns by that
    factor (Adam's steps do not depend on the gradient's size). ``slow`` (scale_rate < 1):
    nflows' sigmoid(a + 2) has d log s / da = 0.12 at its start against softplus's 0.63; does
    the slower scale, not its bound, help digits? ``fast`` (both rates > 1): from the identity
    start at lr 1e-4, the output layer moves at most lr per step; does it need more reach?
    """
    from maflow.transforms.elementwise import SoftplusAffine

    rates = torch.tensor([shift_rate, scale_rate], dtype=torch.float64)

    class RatedSoftplusAffine(SoftplusAffine):
        def _split(self, params):
            return super()._split(params * rates.to(params.dtype))

        def identity_parameters(self):
            return super().identity_parameters() / rates

    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            module.map = RatedSoftplusAffine(shift="after")
            if identity_start:
                with torch.no_grad():
                    bias = module.conditioner.output_layer.bias
                    bias.copy_(module.map.identity_parameters().repeat(bias.numel() // 2))
    return flow


def with_gain_sigmoid(flow, identity_start: bool = False):
    """Glow's coupling: scale g * sigmoid(a + 2) + 1e-3 with a learned per-dimension gain g (from 1).

    sigmoid(a + 2) alone can only contract in the density direction (moons: -1.95 without
    batch norm); the gain, unconditional like Glow's actnorm, gives the expansion back while
    the conditional part keeps nflows' bounded form. By default nflows' random start; with
    ``identity_start`` zero output weights and biases and the gain 1 / sigmoid(2) (scale 1).
    """
    from maflow.transforms.elementwise import SigmoidAffine

    class GainSigmoidAffine(SigmoidAffine):
        def __init__(self, features: int):
            super().__init__(max_scale=1.0, offset=2.0, shift="after")
            self.log_gain = torch.nn.Parameter(torch.zeros(features))

        def _split(self, params):
            shift, scale = super()._split(params)
            return shift, (scale - self.eps) * self.log_gain.exp() + self.eps

    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            module.map = GainSigmoidAffine(module.transform_index.numel())
            if identity_start:
                with torch.no_grad():
                    module.conditioner.output_layer.weight.zero_()
                    module.conditioner.output_layer.bias.zero_()
                    module.map.log_gain.fill_(-math.log(torch.sigmoid(torch.tensor(2.0)).item()))
    return flow if identity_start else no_identity(flow)


def small_random_start(flow, fraction: float):
    """Output weights at ``fraction`` of PyTorch's init (biases kept): between the identity and nflows' start.

    The identity start costs digits about 3 nats with a bounded scale, the random one costs
    moons; a small random start asks whether the symmetry breaking alone is what digits needs.
    Unlike ``RealNVP(start_noise=...)`` (what this became) the weights are drawn after the
    whole flow is built, so the draws differ from the library's.
    """
    from maflow.models.realnvp import start_near_identity

    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            start_near_identity(module, fraction)
    return flow


def _before_couplings(flow, layers_for):
    """Inserts ``layers_for(number)`` before every coupling layer but the first (number 1, 2, ...)."""
    from maflow.transforms.coupling import MapCoupling

    layers = flow.transform.transforms
    couplings = [index for index, layer in enumerate(layers) if isinstance(layer, MapCoupling)]
    for number, index in reversed(list(enumerate(couplings))[1:]):
        for offset, layer in enumerate(layers_for(number)):
            layers.insert(index + offset, layer)
    return flow


def with_mixing(flow, kind: str, identity_init: bool = True):
    """A linear layer (``mixing_layer``: lu, full, permutation) before every coupling layer but the first.

    Glow's step (a learned linear map between couplings) inside Real NVP: the linear part of
    the data's dependence is learned by one D x D map instead of through the couplings' nets.
    The seeds are the coupling layers' numbers, as ``RealNVP(mixing=...)``'s.
    """
    from maflow.transforms.linear import mixing_layer

    return _before_couplings(
        flow, lambda number: mixing_layer(kind, flow.features, seed=number, identity_init=identity_init)
    )


class FixedRotation(Transform):
    """A fixed seeded random rotation (no parameters, log|det| 0): mixing without learning or O(D^3)."""

    def __init__(self, features: int, seed: int):
        super().__init__()
        self.register_buffer("rotation", random_orthogonal(features, seed))

    def forward(self, x, context=None):
        return x @ self.rotation.T, x.new_zeros(x.shape[0])

    def inverse(self, y, context=None):
        return y @ self.rotation, y.new_zeros(y.shape[0])


def with_fixed_rotations(flow):
    """A ``FixedRotation`` before every coupling layer but the first (the seeds as ``with_mixing``'s)."""
    return _before_couplings(flow, lambda number: [FixedRotation(flow.features, seed=number)])


def random_shift_start(flow, fraction: float = 1.0):
    """Re-draws the shift outputs' weights at ``fraction`` of PyTorch's init, the scale outputs kept small.

    A random shift is volume preserving, so it cannot blow the start up as a random scale can,
    and it lets the hidden layers learn at full rate from the first step: with the output at
    0.1 of its init, their gradients are 0.1 of nflows'.
    """
    for module in flow.modules():
        if hasattr(module, "conditioner") and hasattr(module, "map"):
            output = module.conditioner.output_layer
            fresh = torch.empty_like(output.weight)
            torch.nn.init.kaiming_uniform_(fresh, a=math.sqrt(5))  # nn.Linear's own draw
            with torch.no_grad():
                output.weight[0::2] = fresh[0::2] * fraction  # params[..., 0]: the shifts
    return flow
