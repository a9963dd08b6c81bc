"""Multi-scale image flows: the transform and flow contracts, squeeze, shapes."""

import pytest
import torch

from maflow.models.multiscale import MultiScaleFlow, MultiScaleTransform, infer_image_shape
from maflow.models.registry import build_model
from maflow.transforms.image import squeeze, unsqueeze
from tests.contract import check_flow, check_transform

CASES = {
    "realnvp": dict(image_shape=(1, 4, 4), kind="realnvp", levels=2, hidden_channels=6),
    "glow": dict(image_shape=(1, 4, 4), kind="glow", levels=2, steps=2, hidden_channels=6),
    "glow-rgb": dict(image_shape=(3, 2, 2), kind="glow", levels=1, steps=3, hidden_channels=6),
}


def noisy(module):
    """Non-zero last convolutions, so the couplings are not the identity."""
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            if "net" in name:
                parameter.normal_(0, 0.3)
    return module


@pytest.mark.parametrize("name", CASES)
def test_multiscale_transform_contract(name):
    torch.manual_seed(0)
    make = lambda: MultiScaleTransform(**CASES[name])  # noqa: E731
    features = torch.Size(CASES[name]["image_shape"]).numel()
    check_transform(noisy(make()), features, atol=1e-6)


@pytest.mark.parametrize("name", ["realnvp", "glow"])
def test_multiscale_flow_contract(name):
    torch.manual_seed(0)
    options = {k: v for k, v in CASES[name].items() if k != "image_shape"}
    flow = noisy(MultiScaleFlow(16, **options))
    check_flow(flow, 16, train_eval=False)


def test_squeeze_round_trip_and_layout():
    x = torch.arange(2 * 3 * 4 * 6.0).reshape(2, 3, 4, 6)
    y = squeeze(x)
    assert y.shape == (2, 12, 2, 3) and torch.equal(unsqueeze(y), x)
    assert y[0, :4, 0, 0].tolist() == [x[0, 0, 0, 0], x[0, 0, 0, 1], x[0, 0, 1, 0], x[0, 0, 1, 1]]


def test_image_shapes_are_read_or_refused():
    assert infer_image_shape(784) == (1, 28, 28) and infer_image_shape(3072) == (3, 32, 32)
    with pytest.raises(ValueError, match="square image"):
        infer_image_shape(10)
    with pytest.raises(ValueError, match="squeezed"):
        MultiScaleTransform((1, 6, 6), kind="glow", levels=2)


@pytest.mark.parametrize("name", ["realnvp-ms", "glow-ms"])
def test_registered_builders_run_on_mnist_shaped_data(name):
    flow = build_model(name, 784, hidden_channels=4, **({"steps": 1} if name == "glow-ms" else {}))
    x = torch.randn(2, 784)
    assert flow.log_prob(x).shape == (2,) and flow.sample((1,)).shape == (1, 784)
