import io

import pytest
import torch

from maflow.distributions import Flow, StandardNormal
from maflow.transforms import ActNorm
from tests.contract import check_flow, check_transform


def test_actnorm_contract():
    check_transform(ActNorm(3), 3, factory=lambda: ActNorm(3))


def test_initialises_to_zero_mean_unit_variance_once():
    norm = ActNorm(2)
    x = torch.randn(500, 2, dtype=torch.float64) * torch.tensor([3.0, 0.1]) + torch.tensor([5.0, -2.0])
    y, _ = norm.double()(x)
    assert torch.allclose(y.mean(0), torch.zeros(2, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(y.std(0, unbiased=False), torch.ones(2, dtype=torch.float64), atol=1e-6)
    state = {k: v.clone() for k, v in norm.state_dict().items()}
    norm(torch.randn(10, 2, dtype=torch.float64))  # second batch: no re-initialisation
    assert all(torch.equal(state[k], v) for k, v in norm.state_dict().items())


def test_state_survives_save_and_load_without_reinitialising():
    # nflows #4: the initialised flag was not saved, so a loaded model re-initialised itself.
    torch.manual_seed(0)
    flow = Flow(ActNorm(3), StandardNormal(3), 3)
    flow(None)  # no-op call of the distribution interface
    flow.log_prob(torch.randn(64, 3) * 4 + 1)  # training mode: initialises
    buffer = io.BytesIO()
    torch.save(flow.state_dict(), buffer)
    buffer.seek(0)
    fresh = Flow(ActNorm(3), StandardNormal(3), 3)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    assert bool(fresh.transform.initialized)
    test = torch.randn(8, 3)
    expected = flow.eval().log_prob(test)
    fresh.train().log_prob(torch.randn(32, 3) * 100)  # a training batch must not re-initialise it
    assert torch.equal(fresh.eval().log_prob(test), expected)


def test_actnorm_flow_contract():
    make = lambda: Flow(ActNorm(4), StandardNormal(4), 4)
    check_flow(make(), 4, factory=make)


def test_initialisation_needs_two_points():
    with pytest.raises(ValueError, match="at least 2"):
        ActNorm(2)(torch.randn(1, 2))


def test_plain_scaling_layer_skips_data_init():
    norm = ActNorm(2, data_init=False)
    x = torch.randn(5, 2) * 7
    assert torch.equal(norm(x)[0], x)
