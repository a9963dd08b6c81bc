"""maflow's MAF recipes and the peers' MAFs for ``benchmarks/quality.py``.

``build(run, features, setup)`` gives ``(module, log_prob, after_training)`` for a maflow
recipe (``RECIPES``: MAF options, how batch-norm statistics are set for evaluation, and an
initialisation override) or a peer library (``PEERS``).
"""

from __future__ import annotations

import torch

PEERS = ["nflows", "zuko", "normflows", "normflows-native"]

# ---------------------------------------------------------------- maflow recipes

# The current MAF defaults, spelled out: the MAF paper's parameterisation.
MAF_PAPER = dict(scale="exp", scale_bound="clamp", identity_start=False, weight_init="maf", residual=False)

# name -> (MAF options, batch-norm statistics, initialisation override: PyTorch's default
# nn.Linear init for the MADEs' "output" layers, "hidden" layers or "all" of them)
RECIPES: dict[str, tuple[dict, str, str | None]] = {
    "maflow": ({}, "dataset", None),  # whatever MAF() defaults to now
    "maf-paper": (MAF_PAPER, "dataset", None),
    # one factor at a time around the MAF paper's parameterisation
    "out-torch": (MAF_PAPER, "dataset", "output"),
    "out-identity": ({**MAF_PAPER, "identity_start": True}, "dataset", None),
    "scale-soft": ({**MAF_PAPER, "scale_bound": "soft"}, "dataset", None),
    "scale-softplus": ({**MAF_PAPER, "scale": "softplus", "shift": "before"}, "dataset", None),
    "scale-sigmoid": ({**MAF_PAPER, "scale": "sigmoid", "shift": "before"}, "dataset", None),
    "bn-between": ({**MAF_PAPER, "batch_norm_placement": "between"}, "dataset", None),
    "bn-none": ({**MAF_PAPER, "batch_norm": False}, "dataset", None),
    "bn-running": (MAF_PAPER, "running", None),
    "residual": ({**MAF_PAPER, "residual": True}, "dataset", None),
    "hidden-xavier": ({**MAF_PAPER, "weight_init": "xavier"}, "dataset", None),
    "hidden-torch": (MAF_PAPER, "dataset", "hidden"),
    # around identity start
    "id+running": ({**MAF_PAPER, "identity_start": True}, "running", None),
    "id+soft": ({**MAF_PAPER, "identity_start": True, "scale_bound": "soft"}, "dataset", None),
    "id+softplus": (
        {**MAF_PAPER, "identity_start": True, "scale": "softplus", "shift": "before"},
        "dataset",
        None,
    ),
    "id+sigmoid": (
        {**MAF_PAPER, "identity_start": True, "scale": "sigmoid", "shift": "before"},
        "dataset",
        None,
    ),
    "id+between": ({**MAF_PAPER, "identity_start": True, "batch_norm_placement": "between"}, "dataset", None),
    "id+residual": ({**MAF_PAPER, "identity_start": True, "residual": True}, "dataset", None),
    "id+xavier": ({**MAF_PAPER, "identity_start": True, "weight_init": "xavier"}, "dataset", None),
    "id+bn-none": ({**MAF_PAPER, "identity_start": True, "batch_norm": False}, "dataset", None),
    "id+hidden-torch": ({**MAF_PAPER, "identity_start": True}, "dataset", "hidden"),
    "id+softplus+hidden-torch": (
        {**MAF_PAPER, "identity_start": True, "scale": "softplus", "shift": "before"},
        "dataset",
        "hidden",
    ),
    "id+residual+hidden-torch": (
        {**MAF_PAPER, "identity_start": True, "residual": True},
        "dataset",
        "hidden",
    ),
    # the shift after the scale, as nflows and zuko (u = x e^-a - b instead of (x - m) e^-a)
    "id+torch+postshift": (
        {**MAF_PAPER, "identity_start": True, "weight_init": "torch"},
        "dataset",
        "postshift",
    ),
    # ... with nflows' softplus scale too: nflows' map, started at the identity
    "id+torch+postshift-softplus": (
        {**MAF_PAPER, "identity_start": True, "weight_init": "torch", "scale": "softplus", "shift": "after"},
        "dataset",
        "postshift",
    ),
    # one factor at a time around today's default
    "maflow+running": ({}, "running", None),
    "maflow+between": ({"batch_norm_placement": "between"}, "dataset", None),
    "maflow+residual": ({"residual": True}, "dataset", None),
    "maflow+no-identity": ({"identity_start": False}, "dataset", None),  # nflows' start
    "maflow+maf-init": ({"weight_init": "maf"}, "dataset", None),
    # nflows' BatchNorm inside maflow's default: unbiased batch variance, softplus weight
    "maflow+nflows-bn": ({}, "dataset", "nflows-bn"),
    # nflows' parameterisation inside maflow: softplus scale, PyTorch's init everywhere
    "nflows-like": ({**MAF_PAPER, "scale": "softplus", "shift": "before"}, "dataset", "all"),
    "nflows-like+running": ({**MAF_PAPER, "scale": "softplus", "shift": "before"}, "running", "all"),
}
ABLATION = [
    "maf-paper", "out-torch", "out-identity", "scale-soft", "scale-softplus", "scale-sigmoid",
    "bn-between", "bn-running", "residual", "hidden-xavier",
]  # fmt: skip


# ---------------------------------------------------------------- models


def build(run: str, features: int, setup: dict):
    """(module, log_prob, after_training) of run ``run``."""
    hidden, layers, bn = setup["hidden"], setup["layers"], setup["bn"]
    depth = setup["depth"]
    if run in PEERS:
        return globals()[f"_build_{run.replace('-', '_')}"](features, hidden, depth, layers, bn)
    return _build_maflow(run, features, hidden, depth, layers, bn)


def _build_maflow(run, features, hidden, depth, layers, bn):
    from maflow import MAF
    from maflow.transforms.autoregressive import MaskedAutoregressive
    from maflow.transforms.batchnorm import recompute_batchnorm_statistics

    options, bn_stats, torch_init = RECIPES[run]
    options = dict(options)
    if not bn:
        options["batch_norm"] = False
    flow = MAF(features, num_layers=layers, hidden_features=hidden, num_hidden_layers=depth, **options)
    if torch_init == "postshift":
        for module in flow.modules():
            if isinstance(module, MaskedAutoregressive):
                softplus = options.get("scale") == "softplus"
                module.map = (
                    PostShiftSoftplus()
                    if softplus
                    else PostShiftAffine(module.map.scale_bound, module.map.max_log_scale)
                )
    elif torch_init == "nflows-bn":
        layers = flow.transform.transforms
        for index, layer in enumerate(layers):
            if type(layer).__name__ == "BatchNorm":
                layers[index] = NflowsStyleBatchNorm(features)
    elif torch_init:
        with torch.no_grad():
            for module in flow.modules():
                if isinstance(module, MaskedAutoregressive):
                    made = module.made
                    layers = {"output": [made.output_layer], "hidden": list(made.hidden_layers)}
                    for layer in layers.get(torch_init, [*made.hidden_layers, made.output_layer]):
                        torch.nn.Linear.reset_parameters(layer)

    def after_training(train: torch.Tensor) -> None:
        if bn_stats == "dataset":
            recompute_batchnorm_statistics(flow.transform, train)

    return flow, flow.log_prob, after_training


class PostShiftAffine(torch.nn.Module):
    """u = x e^{-a} - b with a bounded a: the shift applied after the scale (nflows, zuko)."""

    params_per_dim = 2

    def __init__(self, scale_bound, max_log_scale):
        super().__init__()
        self.scale_bound, self.max_log_scale = scale_bound, max_log_scale

    def _split(self, params):
        from maflow.transforms.elementwise import bound_log_scale

        return params[..., 0], bound_log_scale(params[..., 1], self.max_log_scale, self.scale_bound)

    def forward(self, x, params):
        shift, log_scale = self._split(params)
        return x * torch.exp(-log_scale) - shift, -log_scale

    def inverse(self, y, params):
        shift, log_scale = self._split(params)
        return (y + shift) * torch.exp(log_scale), log_scale

    def identity_parameters(self):
        return torch.zeros(2)


class PostShiftSoftplus(torch.nn.Module):
    """u = x (softplus(a) + 1e-3) - b: nflows' masked affine map (identity at a = log(e^0.999 - 1))."""

    params_per_dim = 2

    def forward(self, x, params):
        scale = torch.nn.functional.softplus(params[..., 1]) + 1e-3
        return x * scale - params[..., 0], torch.log(scale)

    def inverse(self, y, params):
        scale = torch.nn.functional.softplus(params[..., 1]) + 1e-3
        return (y + params[..., 0]) / scale, -torch.log(scale)


def NflowsStyleBatchNorm(features: int):
    """maflow's BatchNorm with nflows' choices: unbiased batch variance, weight softplus(w) + eps."""
    from maflow.transforms.batchnorm import BatchNorm

    class _BatchNorm(BatchNorm):
        def _statistics(self, x):
            if not self.training:
                return self.running_mean, self.running_var
            var, mean = torch.var_mean(x, 0, correction=1)
            with torch.no_grad():
                self.running_mean.lerp_(mean.detach(), self.momentum)
                self.running_var.lerp_(var.detach(), self.momentum)
            return mean, var

        def _weight(self):
            # log_gamma holds the unconstrained weight; 0.5413 = log(e^(1 - eps) - 1): weight 1
            return torch.nn.functional.softplus(self.log_gamma + 0.5413) + self.eps

        def forward(self, x, context=None):
            mean, var = self._statistics(x)
            var = var + self.eps
            y = self._weight() * (x - mean) * torch.rsqrt(var) + self.beta
            logabsdet = (torch.log(self._weight()) - 0.5 * torch.log(var)).sum()
            return y, logabsdet.expand(x.shape[0])

    return _BatchNorm(features)


def _build_nflows(features, hidden, depth, layers, bn):
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.transforms import (
        BatchNorm,
        CompositeTransform,
        MaskedAffineAutoregressiveTransform,
        ReversePermutation,
    )

    transforms = []
    for layer in range(layers):
        # num_blocks without residual blocks: the input layer + one layer per block.
        transforms.append(
            MaskedAffineAutoregressiveTransform(
                features, hidden, num_blocks=depth - 1, use_residual_blocks=False
            )
        )
        if bn:
            transforms.append(BatchNorm(features))
        if layer < layers - 1:
            transforms.append(ReversePermutation(features))
    flow = Flow(CompositeTransform(transforms), StandardNormal([features]))
    return flow, flow.log_prob, lambda train: None


def _build_zuko(features, hidden, depth, layers, bn):
    import zuko

    flow = zuko.flows.MAF(features, transforms=layers, hidden_features=[hidden] * depth)
    return flow, lambda x: flow().log_prob(x), lambda train: None


def _build_normflows(features, hidden, depth, layers, bn, native=False):
    import normflows as nf

    class MaskedAffineAutoregressiveMAF(nf.flows.MaskedAffineAutoregressive):
        # normflows runs this layer's one-pass direction when sampling and the D-pass one
        # for log_prob (an IAF); swapped here so that it is the same MAF as the others.
        def forward(self, z, context=None):
            return nf.flows.MaskedAffineAutoregressive.inverse(self, z, context)

        def inverse(self, z, context=None):
            return nf.flows.MaskedAffineAutoregressive.forward(self, z, context)

    layer_class = nf.flows.MaskedAffineAutoregressive if native else MaskedAffineAutoregressiveMAF
    flows = []
    for layer in range(layers):
        flows.append(layer_class(features, hidden, num_blocks=depth - 1, use_residual_blocks=False))
        if layer < layers - 1:
            permute = nf.flows.Permute(features, mode="shuffle")
            permute.perm.copy_(torch.arange(features - 1, -1, -1))
            permute.inv_perm.copy_(permute.perm)
            flows.append(permute)
    flow = nf.NormalizingFlow(nf.distributions.DiagGaussian(features, trainable=False), flows)
    return flow, flow.log_prob, lambda train: None


def _build_normflows_native(features, hidden, depth, layers, bn):
    # normflows' own orientation: its one-pass direction samples, the density takes D passes
    # per layer (affordable for the 2-D toys only). The scale sigmoid(a + 2) + 1e-3 then
    # divides in the density direction, so a layer can expand; swapped, it can only contract.
    if features > 8:
        raise ValueError("normflows-native takes D MADE passes per layer for a density: toys only")
    return _build_normflows(features, hidden, depth, layers, bn, native=True)
