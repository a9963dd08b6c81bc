"""The one autoregressive layer: every element-wise map, every MADE variant, one contract."""

import pytest
import torch

from maflow.transforms import (
    Affine,
    ElementwiseMap,
    Gated,
    Inverted,
    MaskedAutoregressive,
    RationalQuadraticSpline,
    Shift,
)
from maflow.transforms.naf import DeepSigmoid, DenseSigmoid
from tests.contract import check_transform


class SinhArcsinh(ElementwiseMap):
    """A user's map, written against the public interface only (parameters bounded to keep it tame)."""

    params_per_dim = 2

    def forward(self, x, params):
        a, b = 3 * torch.tanh(params[..., 0] / 3), torch.tanh(params[..., 1])
        inner = torch.exp(b) * torch.asinh(x) - a
        return torch.sinh(inner), torch.log(torch.cosh(inner)) + b - 0.5 * torch.log1p(x**2)

    def inverse(self, y, params):
        a, b = 3 * torch.tanh(params[..., 0] / 3), torch.tanh(params[..., 1])
        x = torch.sinh((torch.asinh(y) + a) * torch.exp(-b))
        return x, -self.forward(x, params)[1]


MAPS = {
    "affine-clamp": lambda: Affine("clamp"),
    "affine-soft": lambda: Affine("soft", 3.0),
    "gated": lambda: Gated(),
    "gated-offset": lambda: Gated(offset=2.0),
    "shift": lambda: Shift(),
    "spline": lambda: RationalQuadraticSpline(num_bins=5, tail_bound=4.0),
    "inverted-affine": lambda: Inverted(Affine("soft")),
    "inverted-spline": lambda: Inverted(RationalQuadraticSpline(num_bins=3)),
    "user-sinh-arcsinh": lambda: SinhArcsinh(),
    "deep-sigmoid": lambda: DeepSigmoid(hidden=3, num_blocks=2),
    "dense-sigmoid": lambda: DenseSigmoid(hidden=3, num_blocks=2),
}

# MADE variants; "context" is filled in per test.
VARIANTS = {
    "plain": dict(hidden_features=[12, 9]),
    "random-degrees": dict(hidden_features=[5, 11], order="random", hidden_degrees="random", seed=3),
    "narrow": dict(hidden_features=[3], order="reversed"),
    "batch-norm": dict(hidden_features=[10, 10], normalization="batch", activation="elu"),
    "weight-norm": dict(hidden_features=[10, 10], normalization="weight", activation="tanh"),
    "residual": dict(hidden_features=[9, 9, 9], residual=True, hidden_degrees="random", seed=1),
    "scaled-residual": dict(hidden_features=[9, 9, 9], residual="scaled", hidden_degrees="random", seed=1),
    "dropout": dict(hidden_features=[10], dropout=0.3),
}


def build(map_name, variant, context_features=None, context_mode="linear"):
    options = dict(VARIANTS[variant], context_features=context_features)
    if context_features and context_mode == "snf":
        options.update(context_mode="snf", context_features=options["hidden_features"][0])
    return MaskedAutoregressive(6, MAPS[map_name](), **options)


def settle(layer, context_features):
    """Moderately large weights (every connection matters) and warmed-up norms, in float64 eval mode."""
    torch.manual_seed(0)
    layer = layer.double()
    with torch.no_grad():
        for name, parameter in layer.named_parameters():
            if "log_scale" not in name:
                parameter.normal_(0, 0.4)
        x = torch.randn(64, 6, dtype=torch.float64)
        context = torch.randn(64, context_features, dtype=torch.float64) if context_features else None
        layer.train()
        layer(x, context)  # batch-norm statistics, weight-norm initialisation
    return layer.eval()


@pytest.mark.parametrize("map_name", MAPS)
@pytest.mark.parametrize("context_features", [None, 3])
def test_every_map_satisfies_the_transform_contract(map_name, context_features):
    torch.manual_seed(0)
    layer = build(map_name, "random-degrees", context_features)
    check_transform(layer, 6, context_features, autoregressive_degrees=layer.made.input_degrees)


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("context_mode", ["linear", "snf"])
def test_every_made_variant_satisfies_the_transform_contract(variant, context_mode):
    torch.manual_seed(0)
    layer = build("affine-soft", variant, 4, context_mode)
    features = layer.made.context_features
    check_transform(layer, 6, features, autoregressive_degrees=layer.made.input_degrees)


@pytest.mark.parametrize("map_name", MAPS)
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("context", ["none", "linear", "snf"])
def test_degree_ordered_inverse_equals_the_naive_one(map_name, variant, context):
    context_features = None if context == "none" else 4
    layer = build(map_name, variant, context_features, context)
    features = layer.made.context_features
    layer = settle(layer, features)
    torch.manual_seed(1)
    y = torch.randn(9, 6, dtype=torch.float64)
    c = torch.randn(9, features, dtype=torch.float64) if features else None
    with torch.no_grad():
        x_naive, logabsdet_naive = layer.inverse(y, c, method="naive")
        x_fast, logabsdet_fast = layer.inverse(y, c)
    assert torch.allclose(x_fast, x_naive, rtol=1e-10, atol=1e-10), (x_fast - x_naive).abs().max()
    assert torch.allclose(logabsdet_fast, logabsdet_naive, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "map_name", ["affine-clamp", "gated", "spline", "user-sinh-arcsinh", "deep-sigmoid", "dense-sigmoid"]
)
def test_gradients_through_the_degree_ordered_inverse_equal_the_naive_ones(map_name):
    layer = settle(build(map_name, "residual", 4), 4)
    torch.manual_seed(2)
    y = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    context = torch.randn(5, 4, dtype=torch.float64)
    gradients = []
    for method in ("naive", "degree"):
        x, logabsdet = layer.inverse(y, context, method=method)
        loss = (x.tanh() * torch.arange(6)).sum() + logabsdet.pow(2).sum()
        gradients.append(torch.autograd.grad(loss, [y, *layer.parameters()], allow_unused=True))
    for naive, fast in zip(*gradients):
        if naive is not None:
            assert (fast - naive).abs().max() <= 1e-9 * naive.abs().max().clamp_min(1.0)


@pytest.mark.parametrize("map_name", ["affine-clamp", "gated", "shift", "spline", "inverted-affine"])
def test_identity_start_is_the_identity(map_name):
    map = MAPS[map_name]()
    if map_name == "gated":  # a gate is the identity only in the limit: no identity parameters
        with pytest.raises(ValueError, match="identity"):
            MaskedAutoregressive(4, map, hidden_features=8, identity_start=True)
        return
    layer = MaskedAutoregressive(4, map, hidden_features=8, identity_start=True)
    x = torch.randn(10, 4)
    y, logabsdet = layer(x)
    assert torch.allclose(y, x, atol=1e-5) and torch.allclose(logabsdet, torch.zeros(10), atol=1e-5)


def test_training_mode_batch_norm_falls_back_to_the_naive_inverse():
    layer = build("affine-clamp", "batch-norm").double().train()
    calls = []
    layer.made.register_forward_hook(lambda *args: calls.append(1))
    layer.inverse(torch.randn(5, 6, dtype=torch.float64))
    assert len(calls) == len(torch.unique(layer.made.input_degrees))
    calls.clear()
    layer.eval().inverse(torch.randn(5, 6, dtype=torch.float64))
    assert calls == []  # evaluation mode: batch norm folded into the weights, no full pass


def test_unknown_made_option_is_a_type_error():
    with pytest.raises(TypeError, match="hidden_feature"):
        MaskedAutoregressive(3, Affine(), hidden_feature=8)
