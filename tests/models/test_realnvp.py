import math

import pytest
import torch

from maflow.models.realnvp import RealNVP, coupling_mask
from maflow.transforms import AffineCoupling, MapCoupling
from maflow.transforms.batchnorm import BatchNorm
from maflow.transforms.linear import InvertibleLinear
from tests.contract import check_flow

SMALL = dict(num_layers=2, hidden_features=8)


def _couplings(flow):
    return [m for m in flow.transform.transforms if isinstance(m, AffineCoupling | MapCoupling)]


@pytest.mark.parametrize("scale", ["bounded", "softplus", "sigmoid", "exp"])
@pytest.mark.parametrize("context_features", [None, 2])
def test_every_scale_form_is_a_flow(scale, context_features):
    torch.manual_seed(0)
    make = lambda: RealNVP(4, **SMALL, scale=scale, identity_start=False, context_features=context_features)
    check_flow(make().eval(), 4, context_features)


def test_the_default_is_one_network_per_layer_started_near_the_identity():
    torch.manual_seed(0)
    flow = RealNVP(4, **SMALL, batch_norm=False).eval()
    assert all(isinstance(layer, MapCoupling) for layer in _couplings(flow))
    x = torch.randn(6, 4)
    u, logabsdet = flow.transform(x)
    # output weights at a tenth of PyTorch's init: close to the identity, not on it
    assert 1e-4 < (u - x).abs().max() < 0.5 and 1e-4 < logabsdet.abs().max() < 0.5
    for layer in _couplings(flow):
        output = layer.conditioner.output_layer
        bound = 0.1 / output.in_features**0.5  # PyTorch's kaiming-uniform bound, times 0.1
        assert output.weight.abs().max() <= bound and output.weight.abs().max() > bound / 2
        torch.testing.assert_close(output.bias, layer.map.identity_parameters().float().repeat(2))


def test_start_noise_zero_is_exactly_the_identity():
    flow = RealNVP(4, **SMALL, batch_norm=False, start_noise=0.0).eval()
    x = torch.randn(6, 4)
    u, logabsdet = flow.transform(x)
    torch.testing.assert_close(u, x, atol=1e-5, rtol=0)
    torch.testing.assert_close(logabsdet, torch.zeros(6), atol=1e-5, rtol=0)


@pytest.mark.parametrize("noise", [-0.1, float("nan")])
def test_start_noise_must_be_a_number_at_least_zero(noise):
    with pytest.raises(ValueError, match="start_noise"):
        RealNVP(4, **SMALL, start_noise=noise)


def test_the_paper_form_is_two_nets_per_layer():
    flow = RealNVP(4, **SMALL, scale="exp", identity_start=False, weight_init="maf")
    assert all(isinstance(layer, AffineCoupling) for layer in _couplings(flow))


def test_a_checkpoint_from_before_the_default_changed_loads_as_its_exp_form():
    torch.manual_seed(0)
    old = RealNVP(4, **SMALL, scale="exp", identity_start=False, weight_init="maf").eval()
    # What such a checkpoint stores: a configuration without the options added since.
    stored = {
        k: v
        for k, v in old.config.items()
        if k not in ("scale", "activation", "identity_start", "weight_init")
    }
    rebuilt = RealNVP(**stored).eval()
    rebuilt.load_state_dict(old.state_dict())
    x = torch.randn(5, 4)
    assert torch.equal(rebuilt.log_prob(x), old.log_prob(x))
    assert rebuilt.config["scale"] == "exp"
    again = RealNVP(**rebuilt.config).eval()  # its configuration now rebuilds it directly
    again.load_state_dict(rebuilt.state_dict())
    assert torch.equal(again.log_prob(x), old.log_prob(x))


def test_an_unknown_scale_is_refused():
    with pytest.raises(ValueError, match="unknown scale"):
        RealNVP(4, scale="tanh")


@pytest.mark.parametrize(
    "residual, scale", [(True, "softplus"), ("scaled", "softplus"), ("linear", "softplus"), ("linear", "sigmoid"),
                        (True, "exp"), ("scaled", "exp")]
)  # fmt: skip
def test_every_residual_form_is_a_flow(residual, scale):
    torch.manual_seed(1)
    flow = RealNVP(4, **SMALL, scale=scale, identity_start=False, residual=residual, context_features=2)
    check_flow(flow.eval(), 4, 2)


def test_the_state_dict_says_which_residual_form_its_weights_are_for():
    torch.manual_seed(2)
    linear = RealNVP(4, **SMALL, identity_start=False, residual="linear").eval()
    plain = RealNVP(4, **SMALL).eval()
    plain.load_state_dict(linear.state_dict())
    x = torch.randn(5, 4)
    assert plain.config["residual"] == "linear" and torch.equal(plain.log_prob(x), linear.log_prob(x))


def test_a_state_dict_from_before_the_residual_option_loads_as_plain_networks():
    torch.manual_seed(3)
    old = RealNVP(4, **SMALL, scale="softplus", identity_start=False).eval()
    state = old.state_dict()
    del state["residual_code"], state["scale_code"]  # what RealNVP wrote before it had the options
    rebuilt = RealNVP(4, **SMALL, residual="linear").eval()
    rebuilt.load_state_dict(state)
    x = torch.randn(5, 4)
    assert rebuilt.config["residual"] is False and torch.equal(rebuilt.log_prob(x), old.log_prob(x))
    # The same for the MAF paper's exp form, rebuilt from its two-net weights.
    paper = RealNVP(4, **SMALL, scale="exp", identity_start=False, weight_init="maf").eval()
    state = paper.state_dict()
    del state["residual_code"], state["scale_code"]
    rebuilt = RealNVP(4, **SMALL, residual="linear").eval()
    rebuilt.load_state_dict(state)
    assert torch.equal(rebuilt.log_prob(x), paper.log_prob(x))


def test_an_unknown_residual_form_is_refused():
    with pytest.raises(ValueError, match="unknown residual"):
        RealNVP(4, residual="sum")
    with pytest.raises(ValueError, match="two hidden layers"):
        RealNVP(4, num_hidden_layers=1, residual="linear")
    with pytest.raises(ValueError, match="one-network scales"):
        RealNVP(4, scale="exp", residual="linear")


@pytest.mark.parametrize("scale", ["softplus", "exp"])
def test_the_mixing_flow_is_a_flow(scale):
    torch.manual_seed(4)
    flow = RealNVP(4, **SMALL, scale=scale, identity_start=False, mixing="full", context_features=2)
    check_flow(flow.eval(), 4, 2)


def test_mixing_puts_a_linear_map_started_at_the_identity_before_every_coupling_but_the_first():
    flow = RealNVP(4, num_layers=3, hidden_features=8, mixing="full").eval()
    names = [type(layer) for layer in flow.transform.transforms]
    coupling, norm, linear = MapCoupling, BatchNorm, InvertibleLinear
    assert names == [coupling, norm, linear, coupling, norm, linear, coupling]  # no norm after the last
    x = torch.randn(5, 4)
    for layer in flow.transform.transforms:
        if isinstance(layer, InvertibleLinear):
            y, logabsdet = layer(x)
            torch.testing.assert_close(y, x)
            torch.testing.assert_close(logabsdet, torch.zeros(5))


def test_a_mixing_flow_rebuilds_from_its_configuration():
    torch.manual_seed(5)
    flow = RealNVP(4, **SMALL, mixing="full").eval()
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    again = RealNVP(**flow.config).eval()
    again.load_state_dict(flow.state_dict())
    x = torch.randn(5, 4)
    assert torch.equal(again.log_prob(x), flow.log_prob(x))


def test_an_unknown_mixing_is_refused():
    with pytest.raises(ValueError, match="unknown mixing 'rotation': use one of none, full"):
        RealNVP(4, mixing="rotation")


@pytest.mark.parametrize("features", [2, 5, 8])
def test_random_masks_transform_every_dimension_once_per_pair_and_never_one_set_twice_in_a_row(features):
    masks = [coupling_mask("random", features, layer) for layer in range(8)]
    for layer, mask in enumerate(masks):
        assert int(mask.sum()) == int(coupling_mask("alternate", features, layer).sum())
        if layer % 2:
            assert torch.equal(mask, ~masks[layer - 1])
        if layer:
            assert not torch.equal(mask, masks[layer - 1])
    if features == 2:
        assert all(torch.equal(m, coupling_mask("alternate", 2, layer)) for layer, m in enumerate(masks))
    else:
        assert len({tuple(m.tolist()) for m in masks}) > 2  # the halves change between pairs


def test_the_softplus_masks_are_random_halves_and_an_even_odd_state_dict_loads_into_them():
    torch.manual_seed(6)
    flow = RealNVP(5, num_layers=4, hidden_features=8, scale="softplus").eval()
    assert flow.config["mask"] == "random"
    for layer, coupling in enumerate(_couplings(flow)):
        assert torch.equal(coupling.transform_index, coupling_mask("random", 5, layer).nonzero().squeeze(-1))
    # Weights trained with the even/odd masks (the default before) carry their masks with them.
    old = RealNVP(5, num_layers=4, hidden_features=8, scale="softplus", mask="alternate").eval()
    flow.load_state_dict(old.state_dict())
    x = torch.randn(6, 5)
    assert torch.equal(flow.log_prob(x), old.log_prob(x))


@pytest.mark.parametrize("scale", ["softplus", "exp"])
def test_dropout_nets_are_a_flow_in_evaluation_mode_and_rebuild_from_the_configuration(scale):
    torch.manual_seed(6)
    flow = RealNVP(4, **SMALL, scale=scale, identity_start=False, dropout=0.2, context_features=2)
    assert sum(isinstance(m, torch.nn.Dropout) for m in flow.modules()) == (4 if scale == "softplus" else 8)
    check_flow(flow.eval(), 4, 2, train_eval=False)  # training mode draws masks: no agreement to check
    flow.float()
    again = RealNVP(**flow.config).eval()
    again.load_state_dict(flow.state_dict())
    x, c = torch.randn(5, 4), torch.randn(5, 2)
    assert torch.equal(again.log_prob(x, c), flow.log_prob(x, c))
    flow.train()
    assert not torch.equal(flow.log_prob(x, c), flow.log_prob(x, c))  # a fresh mask every pass


def test_with_batch_norm_the_default_is_the_bounded_recipe():
    flow = RealNVP(6, num_layers=3, hidden_features=8).eval()
    recipe = {k: flow.config[k] for k in ("scale", "mask", "residual", "identity_start", "final_batch_norm")}
    assert recipe == dict(
        scale="bounded", mask="alternate", residual="linear", identity_start=False, final_batch_norm=False
    )
    layers = flow.transform.transforms
    assert [type(m) for m in layers] == [MapCoupling, BatchNorm, MapCoupling, BatchNorm, MapCoupling]
    x = torch.randn(64, 6) * 5
    for coupling in _couplings(flow):
        with torch.no_grad():
            coupling.conditioner.output_layer.weight.mul_(100)  # push the scale to its bound
        _, logabsdet = coupling(x)
        assert logabsdet.max() <= 3 * math.log(1.2 + 1e-3) + 1e-5  # three transformed dimensions


def test_without_batch_norm_the_default_is_the_softplus_recipe():
    flow = RealNVP(6, num_layers=3, hidden_features=8, batch_norm=False)
    recipe = {k: flow.config[k] for k in ("scale", "mask", "residual", "identity_start", "final_batch_norm")}
    assert recipe == dict(
        scale="softplus", mask="random", residual=False, identity_start=True, final_batch_norm=True
    )


def test_the_stored_configuration_names_every_choice_and_rebuilds_the_model():
    torch.manual_seed(7)
    flow = RealNVP(5, num_layers=3, hidden_features=8).eval()
    assert all(value is not None for name, value in flow.config.items() if name != "context_features")
    again = RealNVP(**flow.config).eval()
    again.load_state_dict(flow.state_dict())
    x = torch.randn(4, 5)
    assert torch.equal(again.log_prob(x), flow.log_prob(x))


@pytest.mark.parametrize("marked", [True, False])
def test_a_softplus_state_dict_loads_into_the_bounded_default_as_softplus(marked):
    # Weights of the softplus default of before (a norm after the last layer too), with or
    # without the scale's code, rebuild a default model as the form they were trained with.
    torch.manual_seed(8)
    old = RealNVP(5, num_layers=3, hidden_features=8, scale="softplus").eval()
    state = old.state_dict()
    if not marked:
        del state["scale_code"]
    flow = RealNVP(5, num_layers=3, hidden_features=8).eval()
    flow.load_state_dict(state)
    x = torch.randn(4, 5)
    assert flow.config["scale"] == "softplus" and flow.config["final_batch_norm"]
    assert torch.equal(flow.log_prob(x), old.log_prob(x)) and not flow.training
    bounded = RealNVP(5, num_layers=3, hidden_features=8).eval()
    old.load_state_dict(bounded.state_dict())  # and the other way round
    assert old.config["scale"] == "bounded" and torch.equal(old.log_prob(x), bounded.log_prob(x))


def test_a_configuration_from_before_the_recipes_rebuilds_its_model():
    torch.manual_seed(9)
    old = RealNVP(5, num_layers=3, hidden_features=8, scale="softplus").eval()
    stored = {k: v for k, v in old.config.items() if k not in ("final_batch_norm", "near_zero_blocks")}
    again = RealNVP(**stored).eval()
    again.load_state_dict(old.state_dict())
    x = torch.randn(4, 5)
    assert torch.equal(again.log_prob(x), old.log_prob(x))


def test_two_dimensional_data_keeps_the_softplus_recipe_with_batch_norm():
    assert RealNVP(2, num_layers=2, hidden_features=8).config["scale"] == "softplus"
    assert RealNVP(3, num_layers=2, hidden_features=8).config["scale"] == "bounded"
