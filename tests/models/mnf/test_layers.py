"""Tests of the MNF layers: local reparameterisation against sampled weights, and the KL bound."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import Normal, kl_divergence

from maflow.models.mnf import MNFConv2d, MNFLinear

NUM_DRAWS = 20_000


def _widen(layer):
    # Make every source of noise visible: broad q0, large weight and bias variances.
    with torch.no_grad():
        layer.q0_mean.normal_(1.0, 0.3)
        layer.q0_log_var.fill_(math.log(0.2))
        layer.weight_log_var.fill_(math.log(0.3))
        layer.bias_log_var.fill_(math.log(0.1))
    return layer


def _assert_same_moments(a, b):
    """Per-coordinate means and variances agree within 4 Monte Carlo standard errors."""
    a, b = a.double().flatten(1), b.double().flatten(1)
    n = a.shape[0]
    mean_se = ((a.var(0) + b.var(0)) / n).sqrt()
    assert ((a.mean(0) - b.mean(0)).abs() < 4 * mean_se).all()

    def var_se(v):
        centred = v - v.mean(0)
        return ((centred.pow(4).mean(0) - centred.pow(2).mean(0).pow(2)) / n).sqrt()

    assert ((a.var(0) - b.var(0)).abs() < 4 * (var_se(a).pow(2) + var_se(b).pow(2)).sqrt()).all()


def _weight_draws(layer, num):
    z, _ = layer.sample_z(num)
    draws = [layer.sample_weight(z_i) for z_i in z]
    return torch.stack([w for w, _ in draws]), torch.stack([b for _, b in draws])


@torch.no_grad()
def test_linear_local_reparameterisation_matches_sampled_weights():
    torch.manual_seed(0)
    layer = _widen(MNFLinear(3, 2, hidden_features=8))
    x = torch.tensor([[0.7, -1.2, 0.4]])
    local = layer(x.expand(NUM_DRAWS, 3))
    weights, biases = _weight_draws(layer, NUM_DRAWS)
    sampled = torch.einsum("noi,i->no", weights, x[0]) + biases
    _assert_same_moments(local, sampled)


@torch.no_grad()
def test_conv_local_reparameterisation_matches_sampled_weights():
    torch.manual_seed(1)
    layer = _widen(MNFConv2d(2, 3, 2, hidden_features=8))
    x = torch.randn(1, 2, 3, 3)
    local = layer(x.expand(NUM_DRAWS, 2, 3, 3))
    weights, biases = _weight_draws(layer, NUM_DRAWS)
    patches = F.unfold(x, 2)[0]  # (in*k*k, positions)
    sampled = torch.einsum("nop,pl->nol", weights.flatten(2), patches) + biases[:, :, None]
    _assert_same_moments(local, sampled.view_as(local))


@torch.no_grad()
def test_moment_check_detects_a_wrong_variance():
    # The same comparison with standard deviations in place of variances must fail.
    torch.manual_seed(0)
    layer = _widen(MNFLinear(3, 2, hidden_features=8))
    x = torch.tensor([[0.7, -1.2, 0.4]])
    z, _ = layer.sample_z(NUM_DRAWS)
    mean = F.linear(x * z, layer.weight_mean, layer.bias_mean)
    wrong_std = F.linear(x.pow(2), (0.5 * layer.weight_log_var).exp(), (0.5 * layer.bias_log_var).exp())
    wrong = mean + wrong_std.sqrt() * torch.randn_like(mean)
    weights, biases = _weight_draws(layer, NUM_DRAWS)
    sampled = torch.einsum("noi,i->no", weights, x[0]) + biases
    with pytest.raises(AssertionError):
        _assert_same_moments(wrong, sampled)


@pytest.mark.parametrize(
    "make", [lambda: MNFLinear(4, 3, hidden_features=5), lambda: MNFConv2d(2, 3, 2, hidden_features=5)]
)
def test_kl_is_finite_differentiable_and_reaches_every_parameter(make):
    torch.manual_seed(0)
    layer = make()
    if layer.bias_mean is not None:
        layer.bias_mean.data.fill_(0.1)  # at zero its KL gradient vanishes
    kl = layer.kl_divergence()
    assert kl.shape == () and torch.isfinite(kl)
    kl.backward()
    for name, parameter in layer.named_parameters():
        assert parameter.grad is not None and torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"zero gradient at {name}"


def test_linear_kl_equals_the_bound_computed_term_by_term():
    torch.manual_seed(0)
    layer = _widen(MNFLinear(4, 3, hidden_features=5)).double()
    torch.manual_seed(7)
    kl = layer.kl_divergence()

    torch.manual_seed(7)
    eps = torch.randn(1, 4, dtype=torch.float64)
    q0 = Normal(layer.q0_mean, (0.5 * layer.q0_log_var).exp())
    z, logdet_q = layer.flow_q(q0.mean + q0.stddev * eps)
    z = z[0]
    log_q = -q0.entropy().sum() - logdet_q[0]
    q_weight = Normal(layer.weight_mean * z, (0.5 * layer.weight_log_var).exp())
    q_bias = Normal(layer.bias_mean, (0.5 * layer.bias_log_var).exp())
    standard = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    kl_wb = kl_divergence(q_weight, standard).sum() + kl_divergence(q_bias, standard).sum()
    projection = Normal(q_weight.mean @ layer.r0_c, (q_weight.variance @ layer.r0_c.pow(2)).sqrt())
    a = torch.tanh(projection.mean + projection.stddev * torch.randn(3, dtype=torch.float64))
    r_mean, r_log_precision = layer.r0_b1 * a.mean(), layer.r0_b2 * a.mean()
    z_r, logdet_r = layer.flow_r(z.unsqueeze(0))
    log_r = Normal(r_mean, (-0.5 * r_log_precision).exp()).log_prob(z_r[0]).sum() + logdet_r[0]
    assert torch.allclose(kl, kl_wb + log_q - log_r)


def test_kl_weight_term_is_zero_at_the_prior_with_identity_noise():
    # q(W|z) = N(0, 1) per weight contributes nothing; only the z terms remain.
    torch.manual_seed(0)
    layer = MNFLinear(3, 2, num_flows_q=0, num_flows_r=0, hidden_features=4)
    with torch.no_grad():
        layer.weight_mean.zero_()
        layer.weight_log_var.zero_()
        layer.bias_mean.zero_()
        layer.bias_log_var.zero_()
        layer.q0_mean.fill_(1.0)
        layer.q0_log_var.fill_(math.log(0.5))
        layer.r0_c.zero_()
        layer.r0_b1.zero_()
        layer.r0_b2.zero_()
    # With a = 0 the auxiliary model is N(0, 1); the bound is then E[log q0(z) - log N(z; 0, 1)]
    # = -H(q0) + E[z^2 / 2] + log(2 pi) / 2 per coordinate, up to the Monte Carlo z^2.
    torch.manual_seed(3)
    kl = layer.kl_divergence()
    torch.manual_seed(3)
    z = 1.0 + math.sqrt(0.5) * torch.randn(1, 3)[0]
    expected = -Normal(1.0, math.sqrt(0.5)).entropy() * 3 + 0.5 * z.pow(2).sum() + 1.5 * math.log(2 * math.pi)
    assert torch.allclose(kl, expected, atol=1e-5)
