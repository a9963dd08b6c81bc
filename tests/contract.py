"""The test contract every transform and flow must satisfy (shared by all test files)."""

from __future__ import annotations

import io

import torch
from torch.autograd.functional import jacobian


def check_transform(
    transform,
    features: int,
    context_features: int | None = None,
    batch: int = 7,
    atol: float = 1e-4,
    autoregressive_degrees=None,
):
    """Shapes, round trip, log|det| vs autograd, gradients, and save/load of one transform.

    The transform is put in eval mode (after one training-mode pass, so that data-dependent
    initialisation and running statistics have happened). Everything runs in float64.
    """
    torch.manual_seed(0)
    transform = transform.double()
    x = torch.randn(batch, features, dtype=torch.float64)
    context = torch.randn(batch, context_features, dtype=torch.float64) if context_features else None
    transform.train()
    y, logabsdet = transform(x, context)
    assert y.shape == x.shape and logabsdet.shape == (batch,)
    loss = y.pow(2).sum() - logabsdet.sum()
    loss.backward()
    for name, parameter in transform.named_parameters():
        assert parameter.grad is not None, f"no gradient reaches {name}"
    transform.eval()

    y, logabsdet = transform(x, context)
    x_back, inverse_logabsdet = transform.inverse(y, context)
    assert torch.allclose(x_back, x, atol=atol), (x_back - x).abs().max()
    assert torch.allclose(inverse_logabsdet, -logabsdet, atol=atol)

    for i in range(batch):
        c = None if context is None else context[i : i + 1]
        jac = jacobian(lambda v: transform(v.unsqueeze(0), c)[0].squeeze(0), x[i])
        assert torch.allclose(torch.linalg.slogdet(jac)[1], logabsdet[i], atol=atol)
        if autoregressive_degrees is not None:
            deg = torch.as_tensor(autoregressive_degrees)
            allowed = deg[:, None] > deg[None, :]  # output i may depend on inputs of lower degree
            allowed |= torch.eye(features, dtype=torch.bool)
            assert (jac.abs()[~allowed] == 0).all(), "output depends on an input of equal or higher degree"

    buffer = io.BytesIO()
    torch.save(transform.state_dict(), buffer)
    buffer.seek(0)
    return y, logabsdet, torch.load(buffer, weights_only=True)


def check_flow(flow, features: int, context_features: int | None = None, batch: int = 6, atol: float = 1e-4):
    """log_prob = base + log|det| by autograd; train/eval agree after statistics; save/load; sampling."""
    torch.manual_seed(0)
    flow = flow.double()
    x = torch.randn(batch, features, dtype=torch.float64)
    context = torch.randn(batch, context_features, dtype=torch.float64) if context_features else None
    flow.train()
    flow.log_prob(x, context).sum().backward()
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None, f"no gradient reaches {name}"
    flow.eval()
    log_prob = flow.log_prob(x, context)
    assert log_prob.shape == (batch,) and torch.isfinite(log_prob).all()
    for i in range(batch):
        c = None if context is None else context[i : i + 1]
        jac = jacobian(lambda v: flow.transform(v.unsqueeze(0), c)[0].squeeze(0), x[i])
        u = flow.transform(x[i : i + 1], c)[0]
        expected = flow.base.log_prob(u, c) + torch.linalg.slogdet(jac)[1]
        assert torch.allclose(log_prob[i], expected.squeeze(), atol=atol)
    samples = flow.sample((4,), context[:2] if context is not None else None)
    assert torch.isfinite(samples).all()
    buffer = io.BytesIO()
    torch.save(flow.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True), x, context, log_prob
