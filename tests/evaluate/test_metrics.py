"""Labelled likelihood conventions: pixel-space correction, bits/dim, batch-size independence."""

import math

import numpy as np
import torch

from maflow.evaluate.metrics import (
    bits_per_dim,
    likelihood_report,
    log_likelihoods,
    logit_to_pixel_log_likelihoods,
)
from maflow.models.registry import build_model


def test_pixel_space_correction_is_the_log_jacobian_of_the_logit_map():
    lam = 0.05
    x = torch.rand(5, 4, dtype=torch.float64, requires_grad=True)
    y = torch.logit(lam + (1 - 2 * lam) * x)
    # the map is elementwise, so log|det dy/dx| is the sum of the log-derivatives
    log_jacobian = torch.log(torch.autograd.grad(y.sum(), x)[0]).sum(-1)
    log_p_y = torch.randn(5, dtype=torch.float64)
    pixel = logit_to_pixel_log_likelihoods(log_p_y.numpy(), y.detach().numpy(), lam)
    np.testing.assert_allclose(pixel, (log_p_y + log_jacobian).detach().numpy(), rtol=1e-12)


def test_bits_per_dim_conventions():
    ll = np.array([-784 * math.log(2) * 1.5])
    np.testing.assert_allclose(bits_per_dim(ll, 784), [1.5])
    np.testing.assert_allclose(bits_per_dim(ll, 784, 256), [9.5])


def test_report_labels_every_convention_for_logit_images():
    y = np.random.default_rng(0).normal(size=(30, 4))
    report = likelihood_report(-np.ones(30), y, 1e-6, 256)
    assert set(report) == {
        "log_likelihood",
        "bits_per_dim_model_space",
        "log_likelihood_pixel_space",
        "bits_per_dim_pixel_space",
    }
    assert report["log_likelihood"]["mean"] == -1.0 and report["log_likelihood"]["error_2se"] == 0.0


def test_log_likelihoods_do_not_depend_on_the_batch_size():
    torch.manual_seed(0)
    flow = build_model("maf", 5, num_layers=2, hidden_features=16)
    flow.train()
    flow.log_prob(torch.randn(200, 5) * 3 + 1)  # non-trivial running statistics
    x = torch.randn(101, 5).numpy()
    reference = log_likelihoods(flow, x, batch_size=101)
    assert reference.dtype == np.float64 and flow.training  # mode restored
    for batch_size in (1, 7, 50):
        np.testing.assert_allclose(log_likelihoods(flow, x, batch_size=batch_size), reference, rtol=1e-12)
    assert next(flow.parameters()).dtype == torch.float32  # dtype restored
