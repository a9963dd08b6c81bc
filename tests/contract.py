"""The test contract every transform and flow must satisfy (shared by all test files)."""

from __future__ import annotations

import io

import torch
from torch.autograd.functional import jacobian

from maflow.transforms.batchnorm import recompute_batchnorm_statistics


def _reloaded(factory, state):
    """A fresh module from ``factory()`` holding ``state``, in float64 and eval mode."""
    clone = factory().double()
    clone.load_state_dict(state)
    return clone.eval()


def check_transform(
    transform,
    features: int,
    context_features: int | None = None,
    batch: int = 7,
    atol: float = 1e-4,
    autoregressive_degrees=None,
    factory=None,
):
    """Shapes, round trip, log|det| vs autograd, gradients, and save/load of one transform.

    The transform is put in eval mode (after one training-mode pass, so that data-dependent
    initialisation and running statistics have happened). Everything runs in float64.
    With ``factory`` (a zero-argument callable building an identical fresh transform), the
    saved state is also loaded into a fresh one, which must give identical outputs.
    """
    torch.manual_seed(0)
    transform = transform.double()
    x = torch.randn(batch, features, dtype=torch.float64)
    context = torch.randn(batch, context_features, dtype=torch.float64) if context_features else None
    transform.train()
    y, logabsdet = transform(x, context)
    assert y.shape == x.shape and logabsdet.shape == (batch,)
    loss = y.pow(2).sum() - logabsdet.sum()
    if loss.requires_grad:  # a transform without parameters (a permutation) has nothing to train
        loss.backward()
    for name, parameter in transform.named_parameters():
        assert parameter.grad is not None, f"no gradient reaches {name}"
    transform.eval()

    y, logabsdet = transform(x, context)
    x_back, inverse_logabsdet = transform.inverse(y, context)
    assert torch.allclose(x_back, x, atol=atol), (x_back - x).abs().max()
    assert torch.allclose(inverse_logabsdet, -logabsdet, atol=atol)
    z = torch.randn(batch, features, dtype=torch.float64)
    x_of_z, logabsdet_of_z = transform.inverse(z, context)
    z_back, forward_logabsdet = transform(x_of_z, context)
    assert torch.allclose(z_back, z, atol=atol), (z_back - z).abs().max()
    assert torch.allclose(forward_logabsdet, -logabsdet_of_z, atol=atol)

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
    state = torch.load(buffer, weights_only=True)
    if factory is not None:
        clone = _reloaded(factory, state)
        y_clone, logabsdet_clone = clone(x, context)
        assert torch.equal(y_clone, y) and torch.equal(logabsdet_clone, logabsdet), (
            "save/load changed outputs"
        )
    return y, logabsdet, state


def check_flow(
    flow,
    features: int,
    context_features: int | None = None,
    batch: int = 6,
    atol: float = 1e-4,
    factory=None,
    train_eval: bool = True,
):
    """log_prob = base + log|det| by autograd; train/eval agree after statistics; save/load; sampling.

    With ``train_eval``, the batch-norm statistics are set to those of the test batch, after
    which a training-mode pass over that whole batch must give the evaluation-mode
    ``log_prob``. Samples must be finite, and their ``log_prob`` must equal the one returned by
    ``rsample_and_log_prob``. With ``factory`` (a zero-argument callable building an
    identical fresh flow), the saved state is loaded into a fresh flow, whose ``log_prob``
    must be identical.
    """
    torch.manual_seed(0)
    flow = flow.double()
    x = torch.randn(batch, features, dtype=torch.float64)
    context = torch.randn(batch, context_features, dtype=torch.float64) if context_features else None
    flow.train()
    flow.log_prob(x, context).sum().backward()
    for name, parameter in flow.named_parameters():
        assert parameter.grad is not None, f"no gradient reaches {name}"
    if train_eval:
        with torch.no_grad():
            recompute_batchnorm_statistics(flow.transform, x, context)
            flow.eval()
            eval_log_prob = flow.log_prob(x, context)
            flow.train()
            train_log_prob = flow.log_prob(x, context)
        assert torch.allclose(train_log_prob, eval_log_prob, atol=1e-8), "train and eval log_prob differ"
    flow.eval()
    log_prob = flow.log_prob(x, context)
    assert log_prob.shape == (batch,) and torch.isfinite(log_prob).all()
    for i in range(batch):
        c = None if context is None else context[i : i + 1]
        jac = jacobian(lambda v: flow.transform(v.unsqueeze(0), c)[0].squeeze(0), x[i])
        u = flow.transform(x[i : i + 1], c)[0]
        expected = flow.base.log_prob(u, c) + torch.linalg.slogdet(jac)[1]
        assert torch.allclose(log_prob[i], expected.squeeze(), atol=atol)
    sample_context = context[:2] if context is not None else None
    samples = flow.sample((4,), sample_context)
    assert samples.shape == (4, *(() if context is None else (2,)), features)
    assert torch.isfinite(samples).all()
    with torch.no_grad():
        samples, sample_log_prob = flow.rsample_and_log_prob((4,), sample_context)
        assert torch.allclose(flow.log_prob(samples, sample_context), sample_log_prob, atol=atol)
    buffer = io.BytesIO()
    torch.save(flow.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    if factory is not None:
        assert torch.equal(_reloaded(factory, state).log_prob(x, context), log_prob), (
            "save/load changed log_prob"
        )
    return state, x, context, log_prob
