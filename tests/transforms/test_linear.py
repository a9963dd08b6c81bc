import pytest
import torch

from maflow.transforms import InvertibleLinear, LULinear
from maflow.transforms.linear import random_orthogonal
from tests.contract import check_transform


@pytest.mark.parametrize("cls", [InvertibleLinear, LULinear])
@pytest.mark.parametrize("identity_init", [False, True])
def test_linear_contract(cls, identity_init):
    make = lambda: cls(5, identity_init=identity_init, seed=4)
    layer = make()
    with torch.no_grad():  # move away from a rotation, so that log|det| is not 0
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    check_transform(layer, 5, factory=None)
    clone = make().double()
    clone.load_state_dict(layer.state_dict())
    x = torch.randn(3, 5, dtype=torch.float64)
    assert torch.equal(clone(x)[0], layer(x)[0])


def test_lu_starts_at_the_rotation_it_factorises():
    layer = LULinear(4, seed=7)
    assert torch.allclose(layer.weight(), random_orthogonal(4, 7), atol=1e-5)
    assert "permutation" in dict(layer.named_buffers()) and "permutation" not in dict(
        layer.named_parameters()
    )


def test_lu_structure_is_kept_after_updates():
    layer = LULinear(3, seed=1)
    with torch.no_grad():
        layer.lower.fill_(1.0)  # entries above the diagonal are masked out
        layer.upper.fill_(1.0)
    lower, upper = layer._factors()
    assert torch.equal(torch.diagonal(lower), torch.ones(3))
    assert torch.equal(torch.triu(lower, 1), torch.zeros(3, 3)) and torch.equal(
        torch.tril(upper, -1), torch.zeros(3, 3)
    )


def test_random_orthogonal_is_orthogonal_and_seeded():
    q = random_orthogonal(6, seed=2)
    assert torch.allclose(q @ q.T, torch.eye(6), atol=1e-6)
    assert torch.equal(q, random_orthogonal(6, seed=2))


@pytest.mark.parametrize("batch", [3, 8])  # below D (the factors applied to x) and above it (W built)
def test_lu_applies_the_matrix_it_stands_for_at_every_batch_size(batch):
    torch.manual_seed(0)
    layer = LULinear(6, seed=3).double()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    dense = layer.permutation @ layer._factors()[0] @ layer._factors()[1]  # P L U, written out
    x = torch.randn(batch, 6, dtype=torch.float64)
    y, logabsdet = layer(x)
    torch.testing.assert_close(y, x @ dense.T)
    torch.testing.assert_close(logabsdet, torch.linalg.slogdet(dense)[1].expand(batch))
    torch.testing.assert_close(layer.inverse(y)[0], x)
