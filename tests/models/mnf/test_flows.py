"""Tests of the gated masked coupling flows used inside MNF layers."""

import pytest
import torch
from torch.autograd.functional import jacobian

from maflow.errors import ConfigError
from maflow.models.mnf import GatedMaskedCoupling, GatedMaskedFlow
from tests.contract import check_transform


@pytest.mark.parametrize("features", [1, 2, 5])
def test_fixed_mask_flow_satisfies_the_transform_contract(features):
    check_transform(GatedMaskedFlow(features, num_steps=2, hidden_features=6), features)


def test_consecutive_steps_use_complementary_masks():
    flow = GatedMaskedFlow(9, num_steps=3, hidden_features=4, seed=3)
    masks = [step.mask for step in flow.steps]
    assert torch.equal(masks[0] + masks[1], torch.ones(9))
    assert torch.equal(masks[0], masks[2])
    assert 0 < masks[0].sum() < 9


def test_masked_coordinates_pass_unchanged_and_logdet_counts_only_the_others():
    mask = torch.tensor([1.0, 0.0, 1.0])
    step = GatedMaskedCoupling(3, hidden_features=5, mask=mask)
    z = torch.randn(4, 3)
    y, logabsdet = step(z)
    assert torch.equal(y[:, [0, 2]], z[:, [0, 2]])
    jac = jacobian(lambda v: step(v.unsqueeze(0))[0].squeeze(0), z[0])
    assert torch.allclose(jac.diagonal().log().sum(), logabsdet[0], atol=1e-5)


def test_fresh_masks_change_between_calls_and_have_no_inverse():
    torch.manual_seed(0)
    flow = GatedMaskedFlow(20, hidden_features=4, mask_mode="fresh")
    z = torch.randn(3, 20)
    assert not torch.equal(flow(z)[0], flow(z)[0])
    with pytest.raises(NotImplementedError, match="fixed"):
        flow.inverse(z)


def test_fresh_mask_logdet_matches_autograd_for_the_drawn_mask():
    # With the same seed the forward pass and the Jacobian pass draw the same masks.
    flow = GatedMaskedFlow(6, hidden_features=4, mask_mode="fresh").double()
    z = torch.randn(6, dtype=torch.float64)
    torch.manual_seed(5)
    _, logabsdet = flow(z.unsqueeze(0))
    torch.manual_seed(5)
    jac = jacobian(lambda v: flow(v.unsqueeze(0))[0].squeeze(0), z)
    assert torch.allclose(torch.linalg.slogdet(jac)[1], logabsdet[0])


def test_bad_mask_options_raise_config_errors():
    with pytest.raises(ConfigError, match="mask_mode"):
        GatedMaskedCoupling(3, mask_mode="random")
    with pytest.raises(ConfigError, match="shape"):
        GatedMaskedCoupling(3, mask=torch.ones(4))
