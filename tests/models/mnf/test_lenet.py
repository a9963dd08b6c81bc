"""Tests of the MNF LeNet and the plain LeNet: layouts, parameter counts, KL, gradients."""

import torch
import torch.nn.functional as F

from maflow.models.mnf import LeNet, MNFLeNet, num_parameters


def test_parameter_counts_match_janosh_torch_mnf():
    assert num_parameters(MNFLeNet()) == 696_950
    assert num_parameters(LeNet()) == 258_582


def test_dense_width_is_the_mnf_authors_option():
    model = MNFLeNet(dense_features=500)  # AMLab-Amsterdam/MNF_VBNN's layer_dims (20, 50, 500)
    dense = [m for m in model.net if type(m).__name__ == "MNFLinear"]
    assert [tuple(m.weight_mean.shape) for m in dense] == [(500, 800), (10, 500)]
    assert model(torch.rand(3, 784)).shape == (3, 10)


def test_mnf_lenet_loss_reaches_every_parameter_with_finite_gradients():
    torch.manual_seed(0)
    model = MNFLeNet()
    x, y = torch.rand(3, 784), torch.tensor([1, 2, 3])
    kl = model.kl_divergence()
    assert kl.shape == () and torch.isfinite(kl)
    (F.nll_loss(model(x), y) + kl / 1000).backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, f"zero gradient at {name}"


def test_mnf_lenet_outputs_differ_between_passes_and_lenet_is_deterministic():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 28, 28)
    mnf, plain = MNFLeNet(), LeNet()
    assert not torch.equal(mnf(x), mnf(x))
    assert torch.equal(plain(x), plain(x))
    assert plain.kl_divergence() == 0 and not plain.is_bayesian and mnf.is_bayesian


def test_max_std_caps_the_forward_noise_but_not_the_kl():
    # The MNF authors' thres_var: predictions draw with std <= max_std, the KL sees the posterior.
    from maflow.models.mnf import MNFLinear

    torch.manual_seed(0)
    capped, free = MNFLinear(4, 3, max_std=0.5), MNFLinear(4, 3)
    free.load_state_dict(capped.state_dict())
    for layer in (capped, free):
        with torch.no_grad():
            layer.weight_log_var.fill_(0.0)  # std 1
            layer.q0_log_var.fill_(-30.0)  # z fixed at its mean: the spread is the weights'
    x = torch.ones(20_000, 4)
    with torch.no_grad():
        spread = [(layer(x) - layer(x).mean(0)).std().item() for layer in (capped, free)]
    assert abs(spread[0] / spread[1] - 0.5) < 0.05
    weight_var, _ = capped.forward_variances()
    assert torch.all(weight_var == 0.25)
    torch.manual_seed(1)
    kl_capped = capped.kl_divergence()
    torch.manual_seed(1)
    assert torch.equal(kl_capped, free.kl_divergence())
