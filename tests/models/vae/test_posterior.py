from pathlib import Path

import pytest
import torch
from torch.autograd.functional import jacobian

from maflow.models.vae import VAE
from maflow.models.vae.posterior import (
    POSTERIORS,
    FlowPosterior,
    IAFPosterior,
    IAFStep,
    WeightNormMaskedLinear,
)
from tests.contract import check_transform

BEFORE_ONE_MADE = Path(__file__).parent / "data" / "iaf_step_before_one_made.pt"


@pytest.mark.parametrize("normalization", ["none", "batch", "weight"])
@pytest.mark.parametrize("order", ["natural", "reversed"])
def test_iaf_step_log_det_matches_autograd(normalization, order):
    torch.manual_seed(0)
    step = IAFStep(5, [10, 10], context_features=10, normalization=normalization, order=order)
    check_transform(step, 5, context_features=10, autoregressive_degrees=step.made.input_degrees)


@pytest.mark.parametrize("context_mode", ["snf", "linear"])
def test_sampling_direction_log_det_matches_autograd(context_mode):
    torch.manual_seed(1)
    step = IAFStep(4, [8], context_features=8, normalization="batch", context_mode=context_mode).double()
    step(torch.randn(16, 4, dtype=torch.float64), torch.randn(16, 8, dtype=torch.float64))  # BN statistics
    step.eval()
    z, h = torch.randn(6, 4, dtype=torch.float64), torch.randn(6, 8, dtype=torch.float64)
    _, logabsdet = step.inverse(z, h)
    for i in range(6):
        jac = jacobian(lambda v: step.inverse(v[None], h[i : i + 1])[0][0], z[i])
        assert torch.allclose(torch.linalg.slogdet(jac)[1], logabsdet[i], atol=1e-10)
        # Output i depends only on inputs generated before it (and on itself, through the gate).
        assert torch.equal(jac.triu(1) != 0, torch.zeros(4, 4, dtype=torch.bool))


def test_orders_alternate_between_steps():
    posterior = IAFPosterior(3, context_features=6, num_steps=3, hidden_features=[6])
    degrees = [step.made.input_degrees.tolist() for step in posterior.steps]
    assert degrees == [[1, 2, 3], [3, 2, 1], [1, 2, 3]]


@pytest.mark.parametrize("normalization, expected_bias", [("batch", 3.0), ("none", 2.0), ("weight", 2.0)])
def test_each_step_starts_near_identity(normalization, expected_bias):
    torch.manual_seed(0)
    step = IAFStep(6, [12, 12], context_features=12, normalization=normalization)
    z, h = torch.randn(256, 6), torch.randn(256, 12)
    s = step.made(z, h)[:, 6:] + step.map.base.offset
    # The gate sigma(s) is centred on sigma(bias): the step mostly keeps z.
    assert abs(s.mean().item() - expected_bias) < 0.5
    assert torch.sigmoid(s).median() > 0.85


def test_weight_norm_data_dependent_init():
    torch.manual_seed(0)
    layer = WeightNormMaskedLinear(4, 3, torch.tril(torch.ones(3, 4)))
    x = torch.randn(500, 4) * 7 + 3
    y = layer(x)  # the first training-mode pass initialises the scale and bias
    assert torch.allclose(y.mean(0), torch.zeros(3), atol=1e-4)
    assert torch.allclose(y.std(0), torch.ones(3), atol=1e-3)
    assert bool(layer.initialized)
    later = layer(x * 2)  # and only the first
    assert not torch.allclose(later.std(0), torch.ones(3), atol=0.1)


def test_posterior_log_prob_is_change_of_variables():
    torch.manual_seed(2)
    q = IAFPosterior(3, context_features=5, num_steps=2, hidden_features=[5], normalization="none").double()
    mean, log_std = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 3, dtype=torch.float64)
    h = torch.randn(1, 5, dtype=torch.float64)
    torch.manual_seed(3)
    z, log_q = q.rsample_and_log_prob(mean, log_std, h, num_samples=4)
    torch.manual_seed(3)
    eps = torch.randn(4, 1, 3, dtype=torch.float64)
    std = torch.exp(log_std - 3.0)  # the -3 offset
    for j in range(4):

        def flow(e):
            v = mean[0] + std[0] * e
            for step in q.steps:
                v = step.inverse(v[None], h)[0][0]
            return v

        assert torch.allclose(flow(eps[j, 0]), z[j, 0])
        jac = jacobian(flow, eps[j, 0])
        base = torch.distributions.Normal(0.0, 1.0).log_prob(eps[j, 0]).sum()
        assert torch.allclose(log_q[j, 0], base - torch.linalg.slogdet(jac)[1], atol=1e-10)


def test_snf_context_size_must_match_first_hidden_layer():
    with pytest.raises(ValueError, match="must equal hidden_features"):
        IAFStep(4, [8], context_features=7)


@pytest.mark.parametrize(
    "case", ["batch-snf-gated", "weight-linear-gated", "none-snf-shift", "batch-linear-shift"]
)
def test_checkpoints_from_before_the_one_made_load_and_agree(case):
    # Written by the IAF step with its own two-headed MADE (m and s heads, separate norms).
    stored = torch.load(BEFORE_ONE_MADE, weights_only=True)[case]
    normalization, mode, kind = case.split("-")
    step = IAFStep(
        3,
        [6, 6],
        6,
        normalization=normalization,
        context_mode=mode,
        order="reversed",
        shift_only=kind == "shift",
    ).double()
    step.load_state_dict(stored["state"])
    step.eval()
    with torch.no_grad():
        y, logabsdet = step.inverse(stored["z"], stored["h"])
    assert torch.allclose(y, stored["y"], atol=1e-12) and torch.allclose(
        logabsdet, stored["logabsdet"], atol=1e-12
    )


@pytest.mark.parametrize("flow", [f for f in POSTERIORS if f != "diagonal"])
def test_every_posterior_flow_gives_log_q_by_change_of_variables(flow):
    torch.manual_seed(4)
    q = FlowPosterior(
        3, context_features=5, num_steps=2, hidden_features=[5], normalization="none", flow=flow
    )
    q = q.double().eval()
    mean, log_std = torch.randn(1, 3, dtype=torch.float64), torch.randn(1, 3, dtype=torch.float64)
    h = torch.randn(1, 5, dtype=torch.float64)
    torch.manual_seed(5)
    z, log_q = q.rsample_and_log_prob(mean, log_std, h, num_samples=3)
    torch.manual_seed(5)
    eps = torch.randn(3, 1, 3, dtype=torch.float64)
    std = torch.exp(log_std - 3.0)

    def sample(e):
        v = (mean[0] + std[0] * e)[None]
        for step in q.steps:
            v = step.inverse(v, h)[0]
        return v[0]

    for j in range(3):
        assert torch.allclose(sample(eps[j, 0]), z[j, 0])
        jac = jacobian(sample, eps[j, 0])
        base = torch.distributions.Normal(0.0, 1.0).log_prob(eps[j, 0]).sum()
        assert torch.allclose(log_q[j, 0], base - torch.linalg.slogdet(jac)[1], atol=1e-10)


def test_diagonal_posterior_has_no_steps_and_unknown_flows_are_refused():
    assert len(FlowPosterior(3, context_features=4, flow="diagonal").steps) == 0
    with pytest.raises(ValueError, match="sylvester-orthogonal"):
        FlowPosterior(3, context_features=4, flow="maf")


@pytest.mark.parametrize("flow", ["naf", "sylvester-householder", "planar"])
def test_a_vae_trains_with_each_posterior(flow):
    torch.manual_seed(0)
    vae = VAE(
        image_shape=(1, 2, 3), latent_features=2, encoder="dense", decoder="dense", hidden_features=[8],
        context_features=8, flow_steps=2, flow_hidden_features=[8], posterior=flow,
    )  # fmt: skip
    x = torch.bernoulli(torch.full((6, 6), 0.5))
    loss = -vae(x, num_samples=2).elbo.mean()
    loss.backward()
    assert torch.isfinite(loss) and vae.hparams["posterior"] == flow
    assert all(p.grad is not None for p in vae.posterior.parameters())
