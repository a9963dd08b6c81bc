import pytest
import torch
from torch.nn import functional as F

from maflow.nn import MADE, MaskedLinear
from maflow.nn.masked import block_cover


def dense_made(made, x):
    h = x
    for layer in made.hidden_layers:
        h = torch.relu(F.linear(h, layer.weight * layer.mask, layer.bias))
    return F.linear(h, made.output_layer.weight * made.output_layer.mask, made.output_layer.bias)


@pytest.mark.parametrize("order", ["natural", "reversed"])
def test_block_path_equals_dense_product_and_gradients(order):
    made = MADE(300, hidden_features=[256, 256], output_multiplier=2, order=order).double()
    assert all(layer._blocks() is not None for layer in [*made.hidden_layers, made.output_layer])
    x = torch.randn(2, 3, 300, dtype=torch.float64, requires_grad=True)  # extra leading dim
    out, reference = made(x), dense_made(made, x)
    assert torch.allclose(out, reference, atol=1e-12)
    grad = torch.randn_like(out)
    inputs = [x, *made.parameters()]
    for fast, slow in zip(
        torch.autograd.grad(out, inputs, grad), torch.autograd.grad(reference, inputs, grad)
    ):
        assert torch.allclose(fast, slow, atol=1e-11)
    masked = made.hidden_layers[0].weight.grad
    assert masked is None  # autograd.grad does not accumulate


def test_blocks_cover_every_nonzero_and_follow_mask_edits():
    mask = (torch.arange(300)[None, :] <= torch.arange(256)[:, None]).double()
    blocks = block_cover(mask)
    covered = torch.zeros_like(mask)
    for r0, r1, c0, c1 in blocks:
        covered[r0:r1, c0:c1] = 1
    assert (covered >= mask).all() and covered.sum() < 0.8 * mask.numel()
    layer = MaskedLinear(300, 256, mask).double()
    with torch.no_grad():
        layer.mask.fill_(1.0)  # an in-place edit makes the layer dense again
    x = torch.randn(4, 300, dtype=torch.float64)
    assert layer._blocks() is None
    assert torch.allclose(layer(x), F.linear(x, layer.weight, layer.bias))


def test_small_and_unstructured_masks_stay_dense():
    assert block_cover(torch.tril(torch.ones(64, 64))) is None  # too small to pay
    assert block_cover(torch.ones(400, 400)) is None  # nothing to skip
