"""Every registered flow builder: the shared contract, with and without context."""

import pytest
import torch

from maflow.errors import ConfigError
from maflow.models.registry import MODELS, build_model
from tests.contract import check_flow

# Small, non-trivial configurations (spline and LU layers not at their identity init).
CONFIGS = {
    "maf": dict(num_layers=2, hidden_features=10, order="random"),
    "made": dict(hidden_features=10),
    "realnvp": dict(num_layers=3, hidden_features=10),
    "nice": dict(num_layers=3, hidden_features=10, mask="alternate"),
    "iaf": dict(num_layers=2, hidden_features=10, order="random"),
    "nsf-ar": dict(num_layers=2, hidden_features=10, num_bins=4, tail_bound=2.0, identity_init=False),
    "nsf-cl": dict(num_layers=2, hidden_features=10, num_bins=4, tail_bound=2.0, identity_init=False),
    "glow": dict(num_layers=2, hidden_features=10),
    "glow-full": dict(num_layers=2, hidden_features=10, linear="full"),
    # janosh/torch-mnf's "RNVP": half-split couplings, LeakyReLU nets, no batch norm.
    "realnvp-half": dict(
        scale="exp",
        num_layers=3,
        hidden_features=10,
        mask="half",
        scale_activation="leaky_relu",
        shift_activation="leaky_relu",
        batch_norm=False,
    ),
    "nsf-ar-full": dict(num_layers=2, hidden_features=10, num_bins=3, linear="full", identity_init=False),
    "made-mog": dict(hidden_features=10, num_components=3),
    "maf-mog": dict(num_layers=2, hidden_features=10, num_components=3),
    "naf": dict(num_layers=2, hidden_features=10, sigmoid_units=3, num_blocks=2),
    "naf-dense": dict(num_layers=2, hidden_features=10, sigmoid_units=3, num_blocks=2, dense=True),
}
ZOO = ["realnvp", "nice", "iaf", "nsf-ar", "nsf-cl", "glow", "made-mog", "maf-mog", "naf"]


def build(name, context_features):
    torch.manual_seed(0)
    builder = name.removesuffix("-full").removesuffix("-half").removesuffix("-dense")
    return build_model(builder, 3, context_features, **CONFIGS[name])


def test_every_zoo_builder_is_registered():
    assert set(ZOO) <= set(MODELS)


@pytest.mark.parametrize("context_features", [None, 2])
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_flow_contract(name, context_features):
    flow = build(name, context_features)
    with torch.no_grad():  # move the spline/scale outputs away from zero so the test has teeth
        for module in flow.modules():
            if hasattr(module, "output_layer") and isinstance(module.output_layer, torch.nn.Linear):
                module.output_layer.weight.mul_(2)
    check_flow(flow, 3, context_features, factory=lambda: build(name, context_features))


def test_unknown_option_is_a_config_error():
    with pytest.raises(ConfigError, match="nsf-cl"):
        build_model("nsf-cl", 3, num_bin=4)


def test_glow_actnorm_initialises_on_first_training_batch():
    flow = build_model("glow", 2, num_layers=1, hidden_features=8)
    x = torch.randn(200, 2) * torch.tensor([4.0, 0.5]) + 3
    flow.log_prob(x)
    actnorm = flow.transform.transforms[0]
    y, _ = actnorm(x)
    assert bool(actnorm.initialized) and torch.allclose(y.mean(0), torch.zeros(2), atol=1e-4)


def test_maf_mog_base_reverses_the_last_maf_order():
    for num_layers in (1, 2, 3):
        flow = build_model("maf-mog", 4, num_layers=num_layers, hidden_features=8, num_components=2)
        last = [t for t in flow.transform.transforms if hasattr(t, "made")][-1]
        assert torch.equal(flow.base.made.input_degrees, last.made.input_degrees.flip(0))
    flow = build_model("maf-mog", 5, num_layers=2, hidden_features=8, num_components=2, order="random")
    last = flow.transform.transforms[-2].made.input_degrees
    assert torch.equal(flow.base.made.input_degrees, last.flip(0))


def test_conditional_maf_mog_feeds_the_context_to_every_made():
    flow = build_model("maf-mog", 3, context_features=4, num_layers=2, hidden_features=8, num_components=2)
    mades = [m for m in flow.modules() if m.__class__.__name__ == "MADE"]
    assert len(mades) == 3 and all(m.context_layer is not None for m in mades)


@pytest.mark.parametrize("option", [dict(num_layers=True), dict(hidden_features=False), dict(num_bins=True)])
def test_a_boolean_where_a_count_belongs_is_a_config_error(option):
    with pytest.raises(ConfigError, match="whole number"):
        build_model("nsf-ar", 3, **option)


@pytest.mark.parametrize("option", [dict(num_bins=0), dict(tail_bound=-1.0)])
def test_a_builder_range_error_is_a_config_error(option):
    with pytest.raises(ConfigError, match="nsf-cl"):
        build_model("nsf-cl", 3, **option)
