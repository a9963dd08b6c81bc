"""Masked autoregressive flow: stacked Gaussian MADEs with batch norm."""

from __future__ import annotations

import torch

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
from maflow.transforms.autoregressive import MaskedAffineAutoregressive, MaskedAutoregressive
from maflow.transforms.base import CompositeTransform, Transform
from maflow.transforms.batchnorm import BatchNorm
from maflow.transforms.elementwise import Affine, ElementwiseMap, SigmoidAffine, SoftplusAffine

__all__ = ["MAF", "SCALES", "MAPS"]

SCALES = ("exp", "softplus", "sigmoid")
# The residual forms of a MAF's MADEs; the index is stored in the state dict (residual_code).
RESIDUALS = (False, True, "scaled")
# Every (scale, shift) a MAF layer can use; the index is stored in the state dict (map_code).
MAPS = (
    ("exp", "before"),
    ("softplus", "before"),
    ("softplus", "after"),
    ("sigmoid", "before"),
    ("sigmoid", "after"),
)


def layer_map(
    scale: str, shift: str, scale_bound: str = "clamp", max_log_scale: float = 10.0
) -> ElementwiseMap:
    """The element-wise map of a MAF layer."""
    if (scale, shift) not in MAPS:
        raise ValueError(f"unknown scale/shift {scale!r}/{shift!r}: use one of {MAPS}")
    if scale == "exp":
        return Affine(scale_bound, max_log_scale)
    return SoftplusAffine(shift=shift) if scale == "softplus" else SigmoidAffine(shift=shift)


class MAF(Flow):
    r"""A MAF: K Gaussian MADE layers, orders reversed between layers, batch norm, N(0, I) base.

    With ``num_layers=1`` and ``batch_norm=False`` it is the Gaussian MADE density of the
    MAF paper's "MADE" rows.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        features: Number of inputs D.
        num_layers: Number K of MADE layers.
        hidden_features: Units per hidden layer of each MADE (int or sequence).
        num_hidden_layers: Hidden layers per MADE when ``hidden_features`` is an int.
        context_features: Size of the context vector of a conditional MAF.
        order: ``"alternate"`` (natural, reversed, natural, ...) or ``"random"`` (a fresh
            seeded permutation per layer).
        hidden_degrees: ``"sequential"`` or ``"random"``.
        activation: Hidden activation of the MADEs.
        batch_norm: Whether to use batch-norm layers.
        batch_norm_placement: ``"every"`` (after every MADE, the last included, as the MAF
            authors' code) or ``"between"`` (only between MADEs, as the MAF-v1.0 specification).
        scale: How each layer's MADE output becomes the scale: ``"softplus"``
            (:class:`~maflow.transforms.elementwise.SoftplusAffine`, nflows'), ``"exp"`` (the
            MAF paper's :math:`e^{-\alpha}`, :class:`maflow.transforms.elementwise.Affine`) or
            ``"sigmoid"`` (:class:`~maflow.transforms.elementwise.SigmoidAffine`, normflows').
        shift: ``"after"`` the scale (:math:`u = s\,x - m`, nflows' and zuko's) or
            ``"before"`` (:math:`u = (x - m)\,s`, the MAF paper's); ``None``: ``"before"`` for
            ``scale="exp"`` (the only one it has), ``"after"`` otherwise.
        scale_bound, max_log_scale: Bound on each layer's log-scale (``scale="exp"`` only).
        seed: Seed of random orders and degrees.
        identity_start: Start every MADE layer as the identity map (zero output weights,
            the map's identity parameters as output biases).
        weight_init: The MADEs' weight initialisation: ``"torch"`` (``nn.Linear``'s
            default), ``"maf"`` (the MAF code's :math:`\mathcal{N}(0, 1)/\sqrt{n_{in} + 1}`)
            or ``"xavier"``.
        residual: Residual MADE layers (:class:`maflow.nn.MADE`): ``True`` (every hidden layer
            after the first adds its input to its output), ``"scaled"`` (that sum times
            :math:`1/\sqrt{2}`) or ``False``. ``None``: ``"scaled"`` when the hidden layers
            have one width, ``False`` otherwise.
        **made_options: Any other argument of :class:`maflow.nn.MADE` (``dropout``,
            ``normalization``, ...), for every layer.

    The defaults (nflows' softplus scale with the shift after it, every layer started as the
    identity, PyTorch's initialisation, scaled residual MADE layers; whole-training-set batch-norm
    statistics in the trainer) were chosen by measurement against nflows, zuko and normflows
    (docs/quality.md). The MAF paper's exact parameterisation is ``MAF(..., scale="exp",
    scale_bound="clamp", identity_start=False, weight_init="maf", residual=False)``, which
    the reproduction presets (``maflow train --dataset mnist`` ...) pin. A state dict carries
    its map and whether its layers are residual, so checkpoints written before either was
    recorded load as what they were trained as (the exp map, plain layers).

    Example:
        >>> flow = MAF(3, num_layers=2, hidden_features=16).eval()
        >>> x = flow.sample((5,))
        >>> flow.log_prob(x).shape
        torch.Size([5])
    """

    def __init__(
        self,
        features: int,
        num_layers: int = 5,
        hidden_features=512,
        num_hidden_layers: int = 2,
        context_features: int | None = None,
        order: str = "alternate",
        hidden_degrees: str = "sequential",
        activation: str = "relu",
        batch_norm: bool = True,
        batch_norm_placement: str = "every",
        scale_bound: str = "clamp",
        max_log_scale: float = 10.0,
        seed: int = 0,
        scale: str = "softplus",
        shift: str | None = None,
        identity_start: bool = True,
        weight_init: str = "torch",
        residual: bool | str | None = None,
        **made_options,
    ):
        shift = shift or ("before" if scale == "exp" else "after")
        config = constructor_config(locals())
        if scale not in SCALES:
            raise ValueError(f"unknown scale {scale!r}: use {', '.join(SCALES)}")
        layer_map(scale, shift)  # validates the pair early
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        if order not in ("alternate", "random"):
            raise ValueError(f"unknown order {order!r}: use alternate or random")
        if batch_norm_placement not in ("every", "between"):
            raise ValueError(f"unknown batch_norm_placement {batch_norm_placement!r}: use every or between")
        if residual is None:
            widths = [hidden_features] if isinstance(hidden_features, int) else list(hidden_features)
            residual = "scaled" if len(set(widths)) == 1 else False
        if residual not in RESIDUALS:
            raise ValueError(f"unknown residual {residual!r}: use None, False, True or 'scaled'")
        made = dict(
            residual=residual,
            hidden_features=hidden_features,
            num_hidden_layers=num_hidden_layers,
            context_features=context_features,
            hidden_degrees=hidden_degrees,
            activation=activation,
            weight_init=weight_init,
            identity_start=identity_start,
            **made_options,
        )
        transforms: list[Transform] = []
        for layer in range(num_layers):
            layer_order = order if order == "random" else ("natural", "reversed")[layer % 2]
            if scale == "exp":
                layer_transform: MaskedAutoregressive = MaskedAffineAutoregressive(
                    features,
                    scale_bound=scale_bound,
                    max_log_scale=max_log_scale,
                    order=layer_order,
                    seed=seed + layer,
                    **made,
                )
            else:
                map = layer_map(scale, shift)
                layer_transform = MaskedAutoregressive(
                    features, map, order=layer_order, seed=seed + layer, **made
                )
            transforms.append(layer_transform)
            if batch_norm and (batch_norm_placement == "every" or layer < num_layers - 1):
                transforms.append(BatchNorm(features))
        super().__init__(CompositeTransform(transforms), StandardNormal(features), features, context_features)
        self.config = config
        # The map is part of what the weights mean: a state dict carries it, and one written
        # before MAF recorded it (no map_code) is the MAF paper's exp map.
        self.map_code: torch.Tensor
        self.register_buffer("map_code", torch.tensor(MAPS.index((scale, shift))))
        self.register_load_state_dict_pre_hook(MAF._adopt_stored_map)
        # Likewise whether the MADEs are residual: a state dict without the code comes from
        # before the residual default, whose layers were plain unless asked for by name.
        self.residual_code: torch.Tensor
        self.register_buffer("residual_code", torch.tensor(RESIDUALS.index(residual)))
        self.register_load_state_dict_pre_hook(MAF._adopt_stored_residual)

    @staticmethod
    def _adopt_stored_map(module, state_dict, prefix, *args) -> None:
        key = prefix + "map_code"
        if key not in state_dict:
            state_dict[key] = torch.tensor(MAPS.index(("exp", "before")))
        code = int(state_dict[key])
        if code != int(module.map_code):
            module._use_map(*MAPS[code])

    @staticmethod
    def _adopt_stored_residual(module, state_dict, prefix, *args) -> None:
        key = prefix + "residual_code"
        if key not in state_dict:
            state_dict[key] = torch.tensor(int(bool(module.config.get("residual"))))
        code = int(state_dict[key])
        if code != int(module.residual_code):
            for layer in module.transform.transforms:  # masks and degrees come with the state dict
                if isinstance(layer, MaskedAutoregressive):
                    layer.made.use_residual(RESIDUALS[code])
            module.config["residual"] = RESIDUALS[code]
            module.residual_code.fill_(code)

    def _use_map(self, scale: str, shift: str) -> None:
        bound, max_log_scale = self.config["scale_bound"], self.config["max_log_scale"]
        for layer in self.transform.transforms:
            if isinstance(layer, MaskedAutoregressive):
                layer.map = layer_map(scale, shift, bound, max_log_scale)
        self.config.update(scale=scale, shift=shift)
        self.map_code.fill_(MAPS.index((scale, shift)))
