"""MAF's residual default and the state dicts written before it."""

import pytest
import torch

from maflow import MAF
from maflow.models.maf import RESIDUALS
from maflow.transforms import MaskedAutoregressive
from tests.contract import check_flow


def _mades(flow):
    return [layer.made for layer in flow.transform.transforms if isinstance(layer, MaskedAutoregressive)]


def _trained(flow):
    torch.manual_seed(0)
    flow.double().train()
    with torch.no_grad():  # non-trivial batch-norm statistics and output weights
        for made in _mades(flow):
            made.output_layer.weight.normal_(0, 0.1)
        flow.log_prob(torch.randn(40, flow.features, dtype=torch.float64))
    return flow.eval()


def test_scaled_residual_when_the_hidden_layers_have_one_width():
    assert all(made.residual_scale == 2**-0.5 for made in _mades(MAF(3, num_layers=2, hidden_features=8)))
    assert all(
        made.residual_scale == 1.0 for made in _mades(MAF(3, num_layers=2, hidden_features=8, residual=True))
    )
    assert not any(made.residual for made in _mades(MAF(3, num_layers=2, hidden_features=[8, 6])))
    assert MAF(3, num_layers=2, hidden_features=8).config["residual"] is None
    with pytest.raises(ValueError, match="one width"):
        MAF(3, num_layers=2, hidden_features=[8, 6], residual=True)
    with pytest.raises(ValueError, match="unknown residual"):
        MAF(3, num_layers=2, hidden_features=8, residual="sum")


@pytest.mark.parametrize("context_features", [None, 2])
def test_residual_maf_contract(context_features):
    flow = MAF(
        4, num_layers=2, hidden_features=10, context_features=context_features, hidden_degrees="random"
    )
    check_flow(flow, 4, context_features)


@pytest.mark.parametrize("hidden_degrees", ["sequential", "random"])
def test_a_state_dict_from_before_the_residual_default_loads_as_plain_layers(hidden_degrees):
    old = _trained(MAF(4, num_layers=2, hidden_features=8, hidden_degrees=hidden_degrees, residual=False))
    state = {k: v for k, v in old.state_dict().items() if k != "residual_code"}
    config = {k: v for k, v in old.config.items() if k != "residual"}  # what an old checkpoint recorded
    rebuilt = MAF(**config).double()
    assert all(made.residual for made in _mades(rebuilt))
    rebuilt.load_state_dict(state)
    rebuilt.eval()
    x = torch.randn(6, 4, dtype=torch.float64)
    assert torch.allclose(rebuilt.log_prob(x), old.log_prob(x), atol=1e-12)
    assert not any(made.residual for made in _mades(rebuilt))
    assert rebuilt.config["residual"] is False
    again = MAF(**rebuilt.config).double()  # and it saves as what it is
    again.load_state_dict(rebuilt.state_dict())
    assert torch.allclose(again.eval().log_prob(x), old.log_prob(x), atol=1e-12)


def test_an_old_state_dict_of_a_residual_maf_asked_for_by_name_stays_residual():
    old = _trained(MAF(4, num_layers=2, hidden_features=8, residual=True))
    state = {k: v for k, v in old.state_dict().items() if k != "residual_code"}
    rebuilt = MAF(**old.config).double()
    rebuilt.load_state_dict(state)
    x = torch.randn(6, 4, dtype=torch.float64)
    assert torch.allclose(rebuilt.eval().log_prob(x), old.log_prob(x), atol=1e-12)


@pytest.mark.parametrize("source", [False, True, "scaled"])
@pytest.mark.parametrize("target", [None, False, True])
def test_a_state_dict_carries_its_residual_form(source, target):
    stored = _trained(MAF(3, num_layers=2, hidden_features=8, residual=source))
    rebuilt = MAF(3, num_layers=2, hidden_features=8, residual=target).double()
    rebuilt.load_state_dict(stored.state_dict())
    x = torch.randn(5, 3, dtype=torch.float64)
    assert torch.allclose(rebuilt.eval().log_prob(x), stored.log_prob(x), atol=1e-12)
    assert int(rebuilt.residual_code) == RESIDUALS.index(source)


def test_the_residual_forms_differ():
    x = torch.randn(5, 3, dtype=torch.float64)
    values = [_trained(MAF(3, num_layers=2, hidden_features=8, residual=r)).log_prob(x) for r in RESIDUALS]
    assert not torch.allclose(values[0], values[1]) and not torch.allclose(values[1], values[2])
