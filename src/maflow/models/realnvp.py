"""Coupling flows: Real NVP (the MAF paper's baseline) and NICE."""

from __future__ import annotations

import math

import torch

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
from maflow.models.realnvp_recipe import SCALES, stored_form, with_recipe
from maflow.nn.mlp import MLP, RESIDUALS
from maflow.transforms.actnorm import ActNorm
from maflow.transforms.base import CompositeTransform, Transform
from maflow.transforms.batchnorm import BatchNorm
from maflow.transforms.coupling import (
    AdditiveCoupling,
    AffineCoupling,
    MapCoupling,
    alternating_mask,
    half_mask,
)
from maflow.transforms.elementwise import SigmoidAffine, SoftplusAffine
from maflow.transforms.linear import mixing_layer

__all__ = ["RealNVP", "NICE", "coupling_mask", "random_half_mask"]

_MASKS = {"alternate": alternating_mask, "half": half_mask}


def random_half_mask(features: int, layer: int):
    """A seeded random half of the dimensions for an even layer, the other half for the next one.

    Every pair of layers transforms each dimension once, as the alternating masks do, but which
    dimensions condition which changes from pair to pair (pair ``k`` draws with seed ``k``). A
    pair never starts with the set the previous layer transformed, so that two layers in a row
    never transform the same dimensions (with D = 2 the masks alternate). The default masks of
    :class:`RealNVP` (docs/decisions.md, "Real NVP's masks").

    Arguments:
        features: Number of dimensions D (>= 2).
        layer: The coupling layer's index.

    Example:
        >>> [random_half_mask(2, layer).tolist() for layer in range(3)]
        [[True, False], [False, True], [True, False]]
        >>> bool((random_half_mask(6, 2) ^ random_half_mask(6, 3)).all())  # a pair covers every dimension
        True
    """
    previous = None
    for pair in range(layer // 2 + 1):
        order = torch.randperm(features, generator=torch.Generator().manual_seed(pair))
        first = torch.zeros(features, dtype=torch.bool)
        first[order[: (features + 1) // 2]] = True  # as many as the alternating mask's
        if previous is not None and torch.equal(first, previous):
            first = ~first
        previous = ~first
    return first if layer % 2 == 0 else ~first


def coupling_mask(kind: str, features: int, layer: int):
    """The transformed-dimension mask of layer ``layer``: parity alternates between layers."""
    if kind not in (*_MASKS, "random"):
        raise ValueError(f"unknown mask {kind!r}: use alternate, half or random")
    if features < 2:
        raise ValueError(f"a coupling flow needs at least 2 features, got {features}")
    if kind == "random":
        return random_half_mask(features, layer)
    return _MASKS[kind](features, layer % 2)


class RealNVP(Flow):
    r"""Real NVP: coupling layers with complementary masks, batch norm, N(0, I) base.

    Each coupling layer is one ReLU network that gives a scale and a shift applied after it.
    Arguments left at ``None`` follow the scale's recipe, measured on the held-out benchmark of
    ``benchmarks/quality_zoo.py`` (docs/decisions.md, "Real NVP's bounded coupling"):

    * with batch norm (the default) and D > 2, ``scale="bounded"``: a scale of at most 1.2 per
      layer in the density direction, :math:`1.2\,\sigma(a + 1.5) + 10^{-3}`, so that batch
      norm between the layers does the expanding and a coupling cannot sharpen the density
      around single training points; nets with a linear path whose hidden blocks start near
      zero (``residual="linear", near_zero_blocks=True``, nflows' ``ResidualNet`` start),
      PyTorch's initialisation for the output layer (``identity_start=False``), even/odd masks
      and no batch norm after the last layer;
    * without batch norm, or with D = 2, ``scale="softplus"``: an unbounded softplus scale (the
      bounded one cannot widen narrow data on its own, and with D = 2 it trails even with batch
      norm), plain nets started near the identity, random halves as masks (with D = 2 the
      even/odd ones) and batch norm, if asked for, after every layer.

    ``scale="exp"`` gives the MAF paper's Real NVP baseline, as the MAF authors' code builds it:
    separate scale (tanh) and shift (ReLU) nets and :math:`u = (x - t) e^{-s}` with a bounded
    ``s``; with ``identity_start=False, weight_init="maf", mask="alternate"`` it is that
    baseline exactly (what the reproduction presets pin). ``scale="exp", mask="half"`` with
    leaky-ReLU nets gives the half-split coupling that janosh/torch-mnf calls RNVP. A context,
    if any, is concatenated to the nets' inputs. The stored configuration names every choice,
    so a checkpoint rebuilds its model whatever the defaults become; a state dict carries its
    scale and masks, and one of another scale or final batch norm (the exp form written before
    the one-network default, the softplus default of before the bounded one) rebuilds the
    layers as the form it was trained with.

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        features: Number of inputs D (>= 2).
        num_layers: Number of coupling layers (5 or 10 in the MAF paper).
        hidden_features, num_hidden_layers: Sizes of each layer's network(s).
        context_features: Size of the context vector of a conditional flow.
        mask: ``"random"`` (a new random half every pair of layers: :func:`random_half_mask`),
            ``"alternate"`` (even/odd dimensions) or ``"half"`` (first/second half); ``None``:
            the scale's recipe. With the softplus scale random halves gain 20 nats over
            even/odd on MNIST (50,000 images, 3 epochs) and 1.9 on digits (docs/decisions.md,
            "Real NVP's masks"); with the bounded scale even/odd are ahead on digits and
            MINIBOONE.
        scale: ``"bounded"`` (:math:`1.2\,\sigma(a + 1.5)`), ``"softplus"`` or ``"sigmoid"``
            (nflows' :math:`\sigma(a + 2)`, below 1), one network each with the shift after the
            scale (:class:`~maflow.transforms.MapCoupling`), or ``"exp"`` (the MAF paper's two
            nets; :class:`~maflow.transforms.AffineCoupling`). ``None``: ``"bounded"`` with
            batch norm and D > 2, ``"softplus"`` otherwise.
        activation: Hidden activation of the one network (``scale`` softplus or sigmoid).
        scale_activation, shift_activation: Hidden activations of the two nets (``"exp"``).
        batch_norm: Whether a batch-norm layer follows the coupling layers.
        final_batch_norm: Whether one also follows the last (``None``: the scale's recipe).
            With the bounded scale a norm there, fitted to the training set, undoes the
            bound: on 3,000 MNIST images it costs 20 nats (docs/decisions.md).
        scale_bound, max_log_scale: Bound on the log-scale (``"exp"`` only).
        identity_start: Start every coupling layer near the identity: the output biases of the
            identity and, for the one-network scales, output weights ``start_noise`` times
            PyTorch's initialisation (``"exp"``: zero output weights, exactly the identity).
            ``None``: the scale's recipe (``False`` for the bounded scale, ``True`` otherwise).
        start_noise: The output weights' size at the start, relative to PyTorch's init (0: zero
            weights, exactly the identity). 0.1 removed the bad seeds of the exact identity on
            the 2-D sets of the held-out benchmark (moons over ten seeds −0.533 against −0.577)
            and changed nothing elsewhere (docs/decisions.md, "Real NVP's start").
        weight_init: ``"torch"`` (``nn.Linear``'s default) or ``"maf"`` (the MAF authors').
        residual: The networks' residual form (:class:`~maflow.nn.MLP`): ``False`` (plain),
            ``True``, ``"scaled"`` or ``"linear"`` (a linear path from input to output; on
            the held-out benchmark 2 nats better on digits and 0.6 on MINIBOONE, worse on
            the 2-D sets: docs/decisions.md, "Real NVP's linear path"). ``None``: the
            scale's recipe (``"linear"`` for the bounded scale, ``False`` otherwise).
        near_zero_blocks: With a residual form, start the hidden blocks near zero
            (:class:`~maflow.nn.MLP`); ``None``: the scale's recipe.
        mixing: ``"none"`` (Dinh et al.'s Real NVP) or ``"full"``: a learned D x D matrix
            (Glow's 1x1 convolution), started at the identity, before every coupling layer but
            the first. On the held-out benchmark it gains 2.2 nats on digits and 0.7 on
            MINIBOONE and loses 0.07 on moons; it costs 7-22 % more time per step at D <= 64
            and 3.6x at D = 784 (its log-determinant is O(D^3)). An option for small-D tabular
            data, not the default (docs/decisions.md, "Real NVP's mixing layers").
        dropout: Dropout probability after every hidden activation of the coupling nets
            (training mode only; 0: none), as nflows' ``dropout_probability``. For small
            training sets, measured with the softplus recipe: on 3,000 MNIST images after 20
            epochs 0.1 gains 81 nats (48 above nflows), on digits and MINIBOONE 0.4-0.6; it
            loses 0.18 on moons and 8.7 on 50,000 MNIST images after 3 epochs, so the default
            is none (docs/decisions.md, "Real NVP's dropout").

    Example:
        >>> import torch
        >>> flow = RealNVP(4, num_layers=2, hidden_features=16).eval()
        >>> flow.log_prob(flow.sample((3,))).shape
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 5,
        hidden_features=512,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        mask: str | None = None,
        scale: str | None = None,
        activation: str = "relu",
        scale_activation: str = "tanh",
        shift_activation: str = "relu",
        batch_norm: bool = True,
        scale_bound: str = "soft",
        max_log_scale: float = 10.0,
        identity_start: bool | None = None,
        weight_init: str = "torch",
        residual: bool | str | None = None,
        start_noise: float = 0.1,
        mixing: str = "none",
        dropout: float = 0.0,
        final_batch_norm: bool | None = None,
        near_zero_blocks: bool | None = None,
    ):
        config = with_recipe(constructor_config(locals()))
        mask, scale, residual, start_noise = (config[k] for k in ("mask", "scale", "residual", "start_noise"))
        if not (math.isfinite(start_noise) and start_noise >= 0):
            raise ValueError(f"start_noise must be a number >= 0, got {start_noise}")
        if residual not in RESIDUALS:
            raise ValueError(f"unknown residual {residual!r}: use False, True, 'scaled' or 'linear'")
        if residual == "linear" and scale == "exp":
            # The linear path reaches the log-scale unsquashed: with the paper's random start
            # e^s overflows on unstandardised data (digits: log-likelihood -1e15 after an epoch).
            raise ValueError(
                "residual='linear' is for the one-network scales: use scale='bounded', 'softplus' or 'sigmoid'"
            )
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}: use one of {sorted(SCALES)}")
        if mixing not in _MIXINGS:
            raise ValueError(f"unknown mixing {mixing!r}: use one of {', '.join(_MIXINGS)}")
        transforms: list[Transform] = []
        for layer in range(num_layers):
            if layer > 0 and mixing != "none":
                transforms += mixing_layer(mixing, features, seed=layer, identity_init=True)
            transforms.append(_coupling_layer(coupling_mask(mask, features, layer), config))
            if batch_norm and (layer < num_layers - 1 or config["final_batch_norm"]):
                transforms.append(BatchNorm(features))
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config
        # The scale says what the weights mean (every one-network scale has the same shapes).
        self.scale_code: torch.Tensor
        self.register_buffer("scale_code", torch.tensor(SCALES.index(scale)))
        self.register_load_state_dict_pre_hook(RealNVP._adopt_stored_form)
        # Whether the networks are residual is part of what the weights mean: a state dict
        # without the code comes from before RealNVP had the option, when they were plain.
        self.residual_code: torch.Tensor
        self.register_buffer("residual_code", torch.tensor(RESIDUALS.index(residual)))
        self.register_load_state_dict_pre_hook(RealNVP._adopt_stored_residual)

    @staticmethod
    def _adopt_stored_residual(module, state_dict, prefix, *args) -> None:
        key = prefix + "residual_code"
        if key not in state_dict:
            state_dict[key] = torch.tensor(RESIDUALS.index(False))
        code = int(state_dict[key])
        for net in module.transform.modules():  # also after _adopt_stored_form rebuilt the layers
            if isinstance(net, MLP):
                net.use_residual(RESIDUALS[code])
        module.config["residual"] = RESIDUALS[code]
        module.residual_code.fill_(code)

    @staticmethod
    def _adopt_stored_form(module, state_dict, prefix, *args) -> None:
        # Weights of another form (scale, or batch norm after the last layer) than the model
        # was built with: rebuild its layers as the stored form, so that they mean what they did.
        stored = stored_form(module.config, state_dict, prefix)
        state_dict.setdefault(prefix + "scale_code", torch.tensor(SCALES.index(stored["scale"])))
        if all(module.config[name] == value for name, value in stored.items()):
            return
        config = {**module.config, **stored}
        if stored["scale"] == "exp":  # the MAF code's form; residual: _adopt_stored_residual
            config.update(identity_start=False, weight_init="maf", residual=False)
        rebuilt = RealNVP(**config)
        module.transform = rebuilt.transform.to(module.residual_code.device).train(module.training)
        module.config = rebuilt.config
        module.scale_code.fill_(SCALES.index(stored["scale"]))


_MIXINGS = ("none", "full")


def start_near_identity(coupling: MapCoupling, noise: float) -> None:
    """Re-draws a coupling's output weights at ``noise`` times PyTorch's init, keeping its biases.

    Near the identity, not on it: the exact identity start gave the 2-D sets of the held-out
    benchmark their occasional bad seed (docs/decisions.md, "Real NVP's start").
    """
    output = coupling.conditioner.output_layer
    bias = output.bias.detach().clone()
    output.reset_parameters()
    with torch.no_grad():
        output.weight.mul_(noise)
        output.bias.copy_(bias)


def _scaled_affine(scale: str) -> SoftplusAffine | SigmoidAffine:
    if scale == "softplus":
        return SoftplusAffine(shift="after")
    if scale == "bounded":  # at most 1.2 per layer; batch norm between the layers does the rest
        return SigmoidAffine(max_scale=1.2, offset=1.5, shift="after")
    return SigmoidAffine(shift="after")


def _coupling_layer(mask, config: dict) -> Transform:
    nets = dict(
        hidden_features=config["hidden_features"],
        num_hidden_layers=config["num_hidden_layers"],
        context_features=config["context_features"],
        weight_init=config["weight_init"],
        residual=config["residual"],
        dropout=config["dropout"],
    )
    if config["scale"] != "exp":
        nets["near_zero_blocks"] = config["near_zero_blocks"]
        coupling = MapCoupling(
            mask,
            _scaled_affine(config["scale"]),
            identity_start=config["identity_start"],
            activation=config["activation"],
            **nets,
        )
        if config["identity_start"] and config["start_noise"] > 0:
            start_near_identity(coupling, config["start_noise"])
        return coupling
    layer = AffineCoupling(
        mask,
        scale_activation=config["scale_activation"],
        shift_activation=config["shift_activation"],
        scale_bound=config["scale_bound"],
        max_log_scale=config["max_log_scale"],
        **nets,
    )
    if config["identity_start"]:  # zero log-scale and shift: the identity
        with torch.no_grad():
            for net in (layer.scale_net, layer.shift_net):
                net.output_layer.weight.zero_()
                net.output_layer.bias.zero_()
    return layer


class NICE(Flow):
    r"""NICE: additive (volume-preserving) coupling layers, then a learned diagonal scaling.

    References:
        | NICE: Non-linear Independent Components Estimation (Dinh et al., 2014)
        | https://arxiv.org/abs/1410.8516

    Arguments:
        features: Number of inputs D (>= 2).
        num_layers: Number of additive coupling layers (4 in the NICE paper).
        hidden_features, num_hidden_layers, activation: The shift nets.
        context_features: Size of the context vector of a conditional flow.
        mask: ``"half"`` or ``"alternate"``; parity flips every layer.

    Example:
        >>> import torch
        >>> flow = NICE(2, num_layers=4, hidden_features=16)
        >>> flow.log_prob(torch.zeros(3, 2)).shape
        torch.Size([3])
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 4,
        hidden_features=64,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        mask: str = "half",
        activation: str = "relu",
    ):
        config = constructor_config(locals())
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        transforms: list[Transform] = [
            AdditiveCoupling(
                coupling_mask(mask, features, layer),
                hidden_features=hidden_features,
                num_hidden_layers=num_hidden_layers,
                context_features=context_features,
                activation=activation,
            )
            for layer in range(num_layers)
        ]
        transforms.append(ActNorm(features, data_init=False))  # NICE's diagonal scaling layer
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config
