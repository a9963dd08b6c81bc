"""NSF's hidden-layer initialisation: PyTorch's for both kinds by default, the MAF code's as an option."""

import math

import pytest
import torch

from maflow.models import NSF


def _hidden_layers(flow: NSF) -> list[torch.nn.Linear]:
    layers = []
    for module in flow.modules():
        net = getattr(module, "conditioner", None) or getattr(module, "made", None)
        if net is not None and net is not module:
            layers += [
                m for m in net.modules() if isinstance(m, torch.nn.Linear) and m is not net.output_layer
            ]
    return layers


@pytest.mark.parametrize(
    "kind, options", [("coupling", {}), ("autoregressive", {}), ("coupling", {"weight_init": "torch"})]
)
def test_pytorch_init_is_the_default_and_an_option(kind, options):
    torch.manual_seed(0)
    flow = NSF(4, num_layers=2, hidden_features=32, kind=kind, **options)
    assert flow.config["weight_init"] == "torch"
    for layer in _hidden_layers(flow):
        bound = 1 / math.sqrt(layer.in_features)  # nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert layer.weight.abs().max() <= bound + 1e-7
        assert layer.bias.abs().max() > 0


@pytest.mark.parametrize("kind", ["coupling", "autoregressive"])
def test_maf_init_is_an_option(kind):
    options = {"weight_init": "maf"}
    torch.manual_seed(0)
    flow = NSF(4, num_layers=2, hidden_features=32, kind=kind, **options)
    layers = _hidden_layers(flow)
    assert all(float(layer.bias.detach().abs().max()) == 0.0 for layer in layers)  # the MAF code: zero biases
    assert any(layer.weight.abs().max() > 1 / math.sqrt(layer.in_features) for layer in layers)
    assert flow.config["weight_init"] == "maf"


@pytest.mark.parametrize("kind", ["autoregressive", "coupling"])
def test_starts_at_the_identity_and_loads_weights_of_the_former_default(kind):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(6, 4)
    new = NSF(4, num_layers=2, hidden_features=16, kind=kind).eval()
    base = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1)
    assert torch.allclose(new.log_prob(x), base, atol=1e-5)  # identity start: the base density
    old = NSF(4, num_layers=2, hidden_features=16, kind=kind, weight_init="maf", identity_init=False).eval()
    new.load_state_dict(old.state_dict())  # a coupling checkpoint written before the default changed
    assert torch.equal(new.log_prob(x), old.log_prob(x))


@pytest.mark.parametrize("kind", ["coupling", "autoregressive"])
def test_the_default_builds_what_weight_init_torch_builds(kind):
    torch.manual_seed(0)
    default = NSF(3, num_layers=2, hidden_features=8, kind=kind)
    torch.manual_seed(0)
    explicit = NSF(3, num_layers=2, hidden_features=8, kind=kind, weight_init="torch")
    for (name, a), (_, b) in zip(default.state_dict().items(), explicit.state_dict().items()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("kind", ["autoregressive", "coupling"])
def test_dropout_reaches_the_networks_of_either_kind(kind):
    torch.manual_seed(3)
    flow = NSF(4, num_layers=2, hidden_features=16, kind=kind, dropout=0.3, identity_init=False)
    assert sum(isinstance(m, torch.nn.Dropout) for m in flow.modules()) == 2 * (
        1 if kind == "autoregressive" else 2
    )
    flow.eval()
    x = torch.randn(5, 4)
    assert torch.equal(flow.log_prob(x), flow.log_prob(x))
    flow.train()
    assert not torch.equal(flow.log_prob(x), flow.log_prob(x))


def test_coupling_layers_refuse_the_other_made_options():
    with pytest.raises(TypeError, match="MADE options"):
        NSF(4, kind="coupling", residual=True)
