"""maflow's Real NVP rows of ``benchmarks/quality_zoo.py``: the default and every variant that was run.

Each row is ``name -> builder(features, setup)``; the variants themselves are in
``benchmarks/realnvp_variants.py``.
"""

from __future__ import annotations

from realnvp_variants import (
    BOUNDED_RECIPE,
    PAPER_REALNVP,
    alternating_realnvp,
    bn_between,
    default_realnvp,
    exp_map_realnvp,
    grid_variant,
    maflow_realnvp,
    random_shift_start,
    residual_conditioners,
    running_statistics,
    sigmoid_scale,
    small_random_start,
    softplus_realnvp,
    swap_conditioners,
    with_fixed_rotations,
    with_gain_sigmoid,
    with_mixing,
    with_rates,
    with_scale_from_identity,
    zuko_scale,
)


def _conditioned(features, setup, conditioner: str):
    """maflow's default Real NVP with conditioner ``mlp`` (its own), ``linear`` or a swap_conditioners kind."""
    if conditioner in ("", "mlp"):
        return maflow_realnvp(features, setup)
    if conditioner == "linear":
        return maflow_realnvp(features, setup, residual="linear")
    return swap_conditioners(maflow_realnvp(features, setup), setup, conditioner)


def _mixed(features, setup, conditioner: str, kind: str, identity_init: bool):
    """The seventh round's base (alternating masks) with a linear map before every coupling layer but the first."""
    options = {"residual": "linear"} if conditioner else {}
    if identity_init and kind == "full":
        return alternating_realnvp(features, setup, mixing="full", **options)
    return with_mixing(alternating_realnvp(features, setup, **options), kind, identity_init=identity_init)


# name -> builder(features, setup): maflow's Real NVP rows of ``quality_zoo.RUNS``. Every
# variant is a change around the base it was recorded against, the exact identity start
# (``maflow_realnvp``); "maflow" is the library's default of the day.
MAFLOW_RUNS = {
    # maflow's default (one softplus net per layer, started near the identity since 52ab790,
    # random half masks since the eighth round)
    "maflow": default_realnvp,
    # the default with batch norm until the tenth round (the softplus recipe; shown for the
    # rows run as `maflow` before it, each keeping `recorded_as`)
    "maflow+softplus": softplus_realnvp,
    # the bounded recipe where the default is softplus (D = 2; rows of `maflow` on moons-bn
    # and pinwheel-bn run at b669007, when it was the default there too)
    "maflow+bounded": lambda f, s: default_realnvp(f, s, scale="bounded"),
    "maflow+running-stats": lambda f, s: running_statistics(default_realnvp(f, s)),
    # tenth round: the bounded recipe (the default with batch norm) with one choice undone
    **{
        f"maflow+{name}": (lambda f, s, option=option: default_realnvp(f, s, **option))
        for name, option in {
            "final-bn": dict(final_batch_norm=True),
            "scale-sigmoid": dict(scale="sigmoid", **BOUNDED_RECIPE),
            "torch-blocks": dict(near_zero_blocks=False),
            "identity-start": dict(identity_start=True),
            "bounded+random-mask": dict(mask="random"),
            "plain-mlp": dict(residual=False),
        }.items()
    },
    # the default before the eighth round: even/odd masks
    "maflow+alternate-mask": alternating_realnvp,
    # the default before start_noise: exactly the identity, the variants' base
    "maflow+exact-identity": maflow_realnvp,
    "maflow+map-exp": exp_map_realnvp,
    # RealNVP(residual="linear"): maflow+resnet-2relu-t through the builder's own option
    "maflow+linear": lambda f, s: maflow_realnvp(f, s, residual="linear"),
    # 2 sigmoid(a) (a bounded scale, 1 at a = 0) with the identity start kept
    "maflow+sigmoid2": lambda f, s: with_scale_from_identity(maflow_realnvp(f, s), 2.0, 0.0),
    "maflow+linear+sigmoid2": lambda f, s: with_scale_from_identity(
        maflow_realnvp(f, s, residual="linear"), 2.0, 0.0
    ),
    # one factor at a time around the default, towards nflows' SimpleRealNVP
    "maflow+depth-3": lambda f, s: maflow_realnvp(f, {**s, "depth": s["depth"] + 1}),
    "maflow+sigmoid": lambda f, s: maflow_realnvp(f, s, scale="sigmoid"),
    "maflow+bn-between": lambda f, s: bn_between(maflow_realnvp(f, s)),
    "maflow+running": lambda f, s: running_statistics(maflow_realnvp(f, s)),
    "maflow+half-mask": lambda f, s: maflow_realnvp(f, s, mask="half"),
    "maflow+no-identity": lambda f, s: maflow_realnvp(f, s, identity_start=False),
    "maflow+resnet": lambda f, s: swap_conditioners(maflow_realnvp(f, s), s, "resnet"),
    "maflow+resnet-1": lambda f, s: swap_conditioners(maflow_realnvp(f, s), s, "resnet-1"),
    "maflow+resnet-2relu": lambda f, s: swap_conditioners(maflow_realnvp(f, s), s, "resnet-2relu"),
    **{
        f"maflow+{c}": lambda f, s, c=c: swap_conditioners(maflow_realnvp(f, s), s, c)
        for c in ("resnet-t", "resnet-1-t", "resnet-2relu-t")
    },
    "maflow+zuko-scale": lambda f, s: zuko_scale(maflow_realnvp(f, s)),
    "maflow+skip": lambda f, s: swap_conditioners(maflow_realnvp(f, s), s, "skip"),
    # the coupling MLP with MAF's residual hidden blocks (sum times 1/sqrt(2), or the plain sum)
    "maflow+res": lambda f, s: residual_conditioners(maflow_realnvp(f, s)),
    "maflow+res-sum": lambda f, s: residual_conditioners(maflow_realnvp(f, s), True),
    # no identity start, with a conditioner and a scale: "maflow+C+S+no-identity"
    **{
        f"maflow+{c}+{sc}+no-identity".replace("+mlp", "").replace("+softplus", ""): (
            lambda f, s, c=c, sc=sc: grid_variant(f, s, c, sc)
        )
        for c, sc in [
            *[("mlp", sc) for sc in ("sigmoid", "sigmoid2", "zuko")],
            *[("resnet", sc) for sc in ("softplus", "sigmoid", "sigmoid2", "sig1.5o1", "sig1.2o1.5")],
            *[("resnet-2relu", sc) for sc in ("sigmoid", "sigmoid2")],
            *[("res", sc) for sc in ("softplus", "sigmoid", "sigmoid2")],
            *[
                (c, sc)
                for c in ("resnet-t", "resnet-1-t", "resnet-2relu-t")
                for sc in ("softplus", "sigmoid2")
            ],
        ]
    },
    # softplus(rate * a): the scale learns at a fraction of the shift's rate (identity start)
    **{
        f"maflow+{c}slow{rate:g}": (
            lambda f, s, c=c, rate=rate: with_rates(_conditioned(f, s, c.rstrip("+")), 1.0, rate)
        )
        for c, rates in [
            ("", (0.5, 0.25, 0.1)),
            ("resnet-2relu+", (0.25, 0.1)),
            ("resnet-2relu-t+", (0.25, 0.1)),
        ]
        for rate in rates
    },
    # both outputs faster (identity start); Glow's gained sigmoid scale (random start)
    **{
        f"maflow+{c}fast{rate:g}": (
            lambda f, s, c=c, rate=rate: with_rates(_conditioned(f, s, c.rstrip("+")), rate, rate)
        )
        for c in ("", "linear+")
        for rate in (3.0, 10.0)
    },
    **{
        f"maflow+{c}+gain-sigmoid": (lambda f, s, c=c: with_gain_sigmoid(_conditioned(f, s, c)))
        for c in ("mlp", "linear", "resnet-2relu", "resnet")
    },
    "maflow+resnet-2relu+gain-sigmoid-id": lambda f, s: with_gain_sigmoid(
        _conditioned(f, s, "resnet-2relu"), identity_start=True
    ),
    # output weights at a fraction of PyTorch's init, the biases of the start kept
    **{
        f"maflow+small-start{fraction:g}": (
            lambda f, s, fraction=fraction: small_random_start(maflow_realnvp(f, s), fraction)
        )
        for fraction in (0.1, 0.3)
    },
    **{
        f"maflow+linear+small-start{fraction:g}": (
            lambda f, s, fraction=fraction: small_random_start(_conditioned(f, s, "linear"), fraction)
        )
        for fraction in (0.1, 0.3)
    },
    # seventh round, around the default of the day (alternating masks): a learned linear map before every coupling
    # layer but the first (Glow's step): mix-KIND (mixing_layer's kind, identity start; full
    # is RealNVP(mixing="full"), the same draws as with_mixing), mix-KIND-rand (Glow's random
    # orthogonal start)
    **{
        f"maflow+{c}mix-{kind}{start}": (
            lambda f, s, c=c, kind=kind, start=start: _mixed(f, s, c, kind, identity_init=not start)
        )
        for c in ("", "linear+")
        for kind, starts in (("lu", ("", "-rand")), ("full", ("", "-rand")), ("permutation", ("",)))
        for start in starts
    },
    # random half masks, a new pair every two layers (no extra layers)
    "maflow+random-mask": lambda f, s: alternating_realnvp(f, s, mask="random"),
    # a fixed random rotation instead of a learned map (no O(D^3) log-determinant)
    "maflow+fixed-rotation": lambda f, s: with_fixed_rotations(alternating_realnvp(f, s)),
    # the linear map with the scale at a fraction of its rate (the default's start)
    **{
        f"maflow+mix-full-rand+slow{rate:g}": (
            lambda f, s, rate=rate: with_rates(
                with_mixing(alternating_realnvp(f, s), "full", identity_init=False), 1.0, rate
            )
        )
        for rate in (0.5, 0.25)
    },
    # ninth round, around the random-mask default: dropout after every hidden activation of
    # the coupling nets (RealNVP(dropout=p))
    **{
        f"maflow+dropout{p:g}": (lambda f, s, p=p: softplus_realnvp(f, s, dropout=p))
        for p in (0.05, 0.1, 0.2, 0.3)
    },
    # the hidden activation, the linear path and a third hidden layer around the random-mask
    # default (digits seed 0 only)
    **{
        f"maflow+act-{a}": (lambda f, s, a=a: softplus_realnvp(f, s, activation=a))
        for a in ("elu", "tanh", "softplus", "leaky_relu")
    },
    "maflow+random+linear": lambda f, s: softplus_realnvp(f, s, residual="linear"),
    "maflow+random+depth-3": lambda f, s: softplus_realnvp(f, {**s, "depth": s["depth"] + 1}),
    # the 0-to-2 sigmoid scale around the random-mask default (mnist-3k seed 0 only)
    "maflow+random+sigmoid2": lambda f, s: with_scale_from_identity(softplus_realnvp(f, s), 2.0, 0.0),
    # tenth round: the shift outputs started at PyTorch's init, the scales near the identity
    **{
        f"maflow+shift-start{fr:g}": (lambda f, s, fr=fr: random_shift_start(softplus_realnvp(f, s), fr))
        for fr in (0.3, 1.0)
    },
    # nflows' recipe (linear path or residual net, bounded scale, random start) on random masks
    **{
        f"maflow+random+{c}+{sc}+no-identity": (
            lambda f, s, c=c, sc=sc: grid_variant(f, s, c, sc, mask="random")
        )
        for c in ("resnet-2relu-t", "resnet-2relu", "resnet")
        for sc in ("sigmoid", "sigmoid2")
    },
    "maflow+random+resnet-2relu+sigmoid+no-identity+running": lambda f, s: running_statistics(
        grid_variant(f, s, "resnet-2relu", "sigmoid", mask="random")
    ),
    "maflow+random+bn-between": lambda f, s: bn_between(softplus_realnvp(f, s)),
    "maflow+random+running": lambda f, s: running_statistics(softplus_realnvp(f, s)),
    # tenth round, screening: masks x scale, nflows' conditioner and start, batch norm between only
    **{
        f"maflow+{m}+{c}+{sc}+no-identity+bn-between": (
            lambda f, s, m=m, sc=sc, c=c: bn_between(grid_variant(f, s, c, sc, mask=m))
        )
        for m in ("alternate", "random")
        for c in ("resnet-2relu", "resnet-2relu-t")
        for sc in ("sigmoid", "sigmoid2", "softplus", "sig1.5o1", "sig1.2o1.5")
    },
    "maflow+random+linear+bn-between": lambda f, s: bn_between(softplus_realnvp(f, s, residual="linear")),
    "maflow-paper": lambda f, s: maflow_realnvp(f, s, **PAPER_REALNVP),
    "maflow-paper+identity": lambda f, s: maflow_realnvp(f, s, **{**PAPER_REALNVP, "identity_start": True}),
    "maflow-paper+sigmoid": lambda f, s: sigmoid_scale(maflow_realnvp(f, s, **PAPER_REALNVP)),
    "maflow-paper+identity+sigmoid": lambda f, s: sigmoid_scale(
        maflow_realnvp(f, s, **{**PAPER_REALNVP, "identity_start": True})
    ),
    "maflow-paper+half-mask": lambda f, s: maflow_realnvp(f, s, **PAPER_REALNVP, mask="half"),
}
