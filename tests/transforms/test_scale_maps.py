"""The softplus and sigmoid affine maps, and MAF's scale option built on them."""

import pytest
import torch

from maflow import MAF
from maflow.transforms import MaskedAffineAutoregressive, MaskedAutoregressive
from maflow.transforms.elementwise import SigmoidAffine, SoftplusAffine
from tests.contract import check_transform

MAPS = {
    "softplus": lambda: SoftplusAffine(),
    "sigmoid-nflows": lambda: SigmoidAffine(),
    "sigmoid-wide": lambda: SigmoidAffine(max_scale=2.0, offset=0.0, eps=1e-2),
}


@pytest.mark.parametrize("name", MAPS)
@pytest.mark.parametrize("context_features", [None, 2])
def test_map_satisfies_the_transform_contract(name, context_features):
    torch.manual_seed(0)
    layer = MaskedAutoregressive(5, MAPS[name](), hidden_features=[9, 9], context_features=context_features)
    check_transform(layer, 5, context_features, autoregressive_degrees=layer.made.input_degrees)


@pytest.mark.parametrize("name", MAPS)
def test_identity_start_is_the_identity(name):
    layer = MaskedAutoregressive(4, MAPS[name](), identity_start=True, hidden_features=8).double()
    x = torch.randn(6, 4, dtype=torch.float64)
    y, logabsdet = layer(x)
    assert torch.allclose(y, x, atol=1e-6) and torch.allclose(
        logabsdet, torch.zeros(6, dtype=torch.float64), atol=1e-6
    )


def test_maps_are_the_closed_forms():
    x, params = torch.tensor([1.5]), torch.tensor([[0.5, -0.3]])
    y, log_derivative = SoftplusAffine(eps=1e-3)(x, params)
    scale = torch.nn.functional.softplus(torch.tensor(-0.3)) + 1e-3
    assert torch.allclose(y, (1.5 - 0.5) * scale) and torch.allclose(log_derivative, scale.log())
    y, log_derivative = SigmoidAffine()(x, params)  # nflows' form: sigmoid(a + 2) + 1e-3
    scale = torch.sigmoid(torch.tensor(1.7)) + 1e-3
    assert torch.allclose(y, (1.5 - 0.5) * scale) and torch.allclose(log_derivative, scale.log())


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="eps"):
        SoftplusAffine(eps=0.0)
    with pytest.raises(ValueError, match="max_scale"):
        SigmoidAffine(max_scale=0.5)
    with pytest.raises(ValueError, match="scale"):
        MAF(3, scale="cubic")


@pytest.mark.parametrize("scale", ["exp", "softplus", "sigmoid"])
def test_maf_scale_option_builds_a_flow_that_samples_its_density(scale):
    torch.manual_seed(0)
    flow = MAF(3, num_layers=2, hidden_features=8, scale=scale).double()
    flow.train()
    flow.log_prob(torch.randn(20, 3, dtype=torch.float64))  # batch-norm statistics
    flow.eval()
    x = flow.sample((5,))
    assert flow.log_prob(x).isfinite().all()
    rebuilt = MAF(**flow.config).double()
    rebuilt.load_state_dict(flow.state_dict())
    rebuilt.eval()
    assert torch.allclose(rebuilt.log_prob(x), flow.log_prob(x))


@pytest.mark.parametrize("name", ["softplus", "sigmoid"])
def test_shift_after_the_scale(name):
    x, params = torch.tensor([1.5]), torch.tensor([[0.5, -0.3]])
    g = SoftplusAffine(shift="after") if name == "softplus" else SigmoidAffine(shift="after")
    scale = g._split(params)[1]
    y, _ = g(x, params)
    assert torch.allclose(y, 1.5 * scale - 0.5)
    assert torch.allclose(g.inverse(y, params)[0], x)
    layer = MaskedAutoregressive(5, g, hidden_features=[9, 9])
    check_transform(layer, 5, autoregressive_degrees=layer.made.input_degrees)


def test_maf_default_map_and_the_papers():
    default = MAF(3, num_layers=2, hidden_features=8)
    assert (default.config["scale"], default.config["shift"]) == ("softplus", "after")
    paper = MAF(3, num_layers=2, hidden_features=8, scale="exp", identity_start=False, weight_init="maf")
    assert paper.config["shift"] == "before"
    assert isinstance(paper.transform.transforms[0], MaskedAffineAutoregressive)
    with pytest.raises(ValueError, match="scale/shift"):
        MAF(3, scale="exp", shift="after")


def test_a_checkpoint_written_before_the_map_was_recorded_loads_as_the_exp_map():
    torch.manual_seed(0)
    old = MAF(
        4, num_layers=2, hidden_features=8, scale="exp", identity_start=False, weight_init="maf"
    ).double()
    old.train()
    old.log_prob(torch.randn(30, 4, dtype=torch.float64))
    old.eval()
    state = {k: v for k, v in old.state_dict().items() if k != "map_code"}
    config = {
        k: v for k, v in old.config.items() if k not in ("scale", "shift", "identity_start", "weight_init")
    }
    rebuilt = MAF(**config).double()  # today's defaults: softplus, shift after
    rebuilt.load_state_dict(state)
    rebuilt.eval()
    x = torch.randn(6, 4, dtype=torch.float64)
    assert torch.allclose(rebuilt.log_prob(x), old.log_prob(x), atol=1e-12)
    assert (rebuilt.config["scale"], rebuilt.config["shift"]) == ("exp", "before")
    again = MAF(**rebuilt.config).double()  # and it saves as what it is
    again.load_state_dict(rebuilt.state_dict())
    again.eval()
    assert torch.allclose(again.log_prob(x), old.log_prob(x), atol=1e-12)


def test_a_state_dict_carries_its_map():
    torch.manual_seed(0)
    source = MAF(3, num_layers=2, hidden_features=8, scale="sigmoid", shift="before").double().eval()
    target = MAF(3, num_layers=2, hidden_features=8).double().eval()
    target.load_state_dict(source.state_dict())
    x = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(target.log_prob(x), source.log_prob(x), atol=1e-12)
