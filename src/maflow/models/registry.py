"""Named model builders for the command line's ``--model`` flag."""

from __future__ import annotations

from collections.abc import Callable

from maflow.errors import ConfigError

__all__ = ["MODELS", "register", "build_model"]

MODELS: dict[str, Callable] = {}
_COUNTS = {
    "features", "context_features", "num_layers", "hidden_features", "num_hidden_layers", "num_components",
    "num_bins", "sigmoid_units", "num_blocks", "steps", "levels", "hidden_channels", "num_masks", "seed",
    "num_vectors",
}  # fmt: skip


def register(name: str):
    """Decorator: ``@register("maf")`` on ``builder(features, context_features=None, **options)``."""

    def decorate(builder):
        MODELS[name] = builder
        return builder

    return decorate


def build_model(name: str, features: int, context_features: int | None = None, **options):
    """Builds the named model; unknown names and options give a clear error."""
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}: choose one of {', '.join(sorted(MODELS))}")
    for key, value in options.items():
        # bool is an int in Python: num_layers=true would quietly build one layer.
        if isinstance(value, bool) and key in _COUNTS:
            raise ConfigError(f"model {name!r}: {key} must be a whole number, got {value}")
    try:
        return MODELS[name](features, context_features=context_features, **options)
    except (TypeError, ValueError) as error:  # unknown or out-of-range options
        raise ConfigError(f"model {name!r}: {error}") from None


@register("maf")
def _maf(features, context_features=None, **options):
    from maflow.models.maf import MAF

    return MAF(features, context_features=context_features, **options)


@register("made")
def _made(features, context_features=None, **options):
    # The Gaussian MADE density of the MAF paper: one MADE layer, no batch norm.
    from maflow.models.maf import MAF

    options.update(num_layers=1, batch_norm=False)
    options.setdefault("residual", False)  # the residual default was measured on K = 5 stacks only
    return MAF(features, context_features=context_features, **options)


@register("bernoulli-made")
def _bernoulli_made(features, context_features=None, **options):
    # The binary-data MADE of the MADE paper: one Bernoulli logit per input.
    from maflow.models.bernoulli_made import BernoulliMADE

    return BernoulliMADE(features, context_features=context_features, **options)


@register("realnvp")
def _realnvp(features, context_features=None, **options):
    # The MAF paper's Real NVP baseline: alternating masks, tanh scale / ReLU shift nets, batch norm.
    from maflow.models.realnvp import RealNVP

    return RealNVP(features, context_features=context_features, **options)


@register("nice")
def _nice(features, context_features=None, **options):
    from maflow.models.realnvp import NICE

    return NICE(features, context_features=context_features, **options)


@register("iaf")
def _iaf(features, context_features=None, **options):
    # Gated IAF steps: one pass to sample, D passes per density of a data point.
    from maflow.models.iaf import IAF

    return IAF(features, context_features=context_features, **options)


@register("naf")
def _naf(features, context_features=None, **options):
    # Deep sigmoidal autoregressive layers: one pass per density, a monotone solve to sample.
    from maflow.models.naf import NAF

    return NAF(features, context_features=context_features, **options)


def _variational(step: str):
    def build(features, context_features=None, **options):
        # No closed-form inverse: exact densities of its own samples only (variational inference).
        from maflow.models.variational import VariationalFlow

        return VariationalFlow(features, step, context_features=context_features, **options)

    return build


for _step in ("planar", "radial", "sylvester-orthogonal", "sylvester-householder", "sylvester-triangular"):
    register(_step)(_variational(_step))


# A data set preset sizes vector flows (num_layers, MADE widths); image flows are sized by
# levels, steps and hidden_channels instead, so those keys do not apply to them.
_VECTOR_SIZES = ("num_layers", "hidden_features", "num_hidden_layers")


@register("realnvp-ms")
def _realnvp_ms(features, context_features=None, **options):
    # Real NVP's multi-scale image architecture: checkerboard and channel couplings, factor-out.
    from maflow.models.multiscale import MultiScaleFlow

    options = {k: v for k, v in options.items() if k not in _VECTOR_SIZES}
    return MultiScaleFlow(features, "realnvp", context_features=context_features, **options)


@register("glow-ms")
def _glow_ms(features, context_features=None, **options):
    # Glow's multi-scale architecture: squeeze, [ActNorm, 1x1 convolution, coupling] x K, split.
    from maflow.models.multiscale import MultiScaleFlow

    options = {k: v for k, v in options.items() if k not in _VECTOR_SIZES}
    return MultiScaleFlow(features, "glow", context_features=context_features, **options)


@register("nsf-ar")
def _nsf_ar(features, context_features=None, **options):
    from maflow.models.nsf import NSF

    options["kind"] = "autoregressive"
    return NSF(features, context_features=context_features, **options)


@register("nsf-cl")
def _nsf_cl(features, context_features=None, **options):
    from maflow.models.nsf import NSF

    options["kind"] = "coupling"
    return NSF(features, context_features=context_features, **options)


@register("glow")
def _glow(features, context_features=None, **options):
    # Glow's step of flow for vectors: ActNorm, LU (or full) linear map, affine coupling.
    from maflow.models.glow import Glow

    return Glow(features, context_features=context_features, **options)


@register("made-mog")
def _made_mog(features, context_features=None, **options):
    # The MAF paper's MADE MoG: 10 Gaussian components per conditional. A single MADE, so a
    # preset's flow depth (num_layers) does not apply, as for "made".
    from maflow.models.mog import MADEMoGFlow

    options.pop("num_layers", None)
    return MADEMoGFlow(features, context_features=context_features, **options)


@register("maf-mog")
def _maf_mog(features, context_features=None, **options):
    # A MAF on a MADE MoG base whose order reverses the last MAF layer's.
    from maflow.models.mog import MAFMoG

    return MAFMoG(features, context_features=context_features, **options)
