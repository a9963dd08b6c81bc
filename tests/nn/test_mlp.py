import pytest
import torch

from maflow.nn.mlp import MLP


def reference(net: MLP, x: torch.Tensor, scale: float) -> torch.Tensor:
    """The residual MLP written out layer by layer."""
    linears = [m for m in net.network if isinstance(m, torch.nn.Linear)]
    h = torch.relu(linears[0](x))
    for linear in linears[1:-1]:
        h = (h + torch.relu(linear(h))) * scale
    return linears[-1](h)


@pytest.mark.parametrize("residual, scale", [(True, 1.0), ("scaled", 2**-0.5)])
@pytest.mark.parametrize("num_hidden_layers", [1, 2, 3])
def test_residual_blocks_match_the_written_out_network(residual, scale, num_hidden_layers):
    torch.manual_seed(num_hidden_layers)
    net = MLP(3, 5, hidden_features=8, num_hidden_layers=num_hidden_layers, residual=residual)
    x = torch.randn(7, 3)
    assert torch.allclose(net(x), reference(net, x, scale), atol=1e-6)


@pytest.mark.parametrize("num_hidden_layers", [2, 3])
def test_linear_residual_carries_the_first_pre_activation(num_hidden_layers):
    torch.manual_seed(num_hidden_layers)
    net = MLP(3, 5, hidden_features=8, num_hidden_layers=num_hidden_layers, residual="linear")
    linears = [m for m in net.network if isinstance(m, torch.nn.Linear)]
    x = torch.randn(7, 3)
    s = linears[0](x)
    for linear in linears[1:-1]:
        s = s + torch.relu(linear(torch.relu(s)))
    assert torch.allclose(net(x), linears[-1](s), atol=1e-6)
    # The linear path: with every block's output switched off the network is affine in x.
    with torch.no_grad():
        for linear in linears[1:-1]:
            linear.weight.zero_()
            linear.bias.fill_(-1.0)
    direct = linears[-1].weight @ linears[0].weight
    assert torch.allclose(net(x) - net(torch.zeros(1, 3)), x @ direct.T, atol=1e-5)


def test_plain_and_residual_differ_only_past_the_first_hidden_layer():
    torch.manual_seed(0)
    plain = MLP(3, 2, hidden_features=6, num_hidden_layers=1)
    residual = MLP(3, 2, hidden_features=6, num_hidden_layers=1, residual="scaled")
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(4, 3)
    assert torch.equal(plain(x), residual(x))  # one hidden layer: no block to add


def test_residual_context_is_concatenated():
    torch.manual_seed(1)
    net = MLP(3, 4, hidden_features=8, context_features=2, residual=True)
    x, c = torch.randn(5, 3), torch.randn(5, 2)
    assert torch.allclose(net(x, c), reference(net, torch.cat([x, c], -1), 1.0), atol=1e-6)


def test_bad_residual_options_are_refused():
    with pytest.raises(ValueError, match="unknown residual"):
        MLP(3, 4, residual="sum")
    with pytest.raises(ValueError, match="two hidden layers"):
        MLP(3, 4, num_hidden_layers=1, residual="linear")
    with pytest.raises(ValueError, match="one width"):
        MLP(3, 4, hidden_features=[8, 16], residual=True)


@pytest.mark.parametrize("residual", [False, True, "scaled", "linear"])
def test_dropout_acts_in_training_only_and_keeps_the_weights_names(residual):
    torch.manual_seed(2)
    plain = MLP(3, 4, hidden_features=16, num_hidden_layers=2, residual=residual)
    dropped = MLP(3, 4, hidden_features=16, num_hidden_layers=2, residual=residual, dropout=0.5)
    dropped.load_state_dict(plain.state_dict())  # the same keys: dropout has no parameters
    x = torch.randn(64, 3)
    assert torch.equal(dropped.eval()(x), plain.eval()(x))
    dropped.train()
    first, second = dropped(x), dropped(x)
    assert not torch.equal(first, second)  # a fresh mask every call
    assert not torch.allclose(first, plain(x))  # and the masks change the output


def test_dropout_out_of_range_is_refused():
    for p in (-0.1, 1.0):
        with pytest.raises(ValueError, match="dropout"):
            MLP(3, 4, dropout=p)


def test_near_zero_blocks_start_the_net_on_its_linear_path():
    torch.manual_seed(0)
    net = MLP(
        3,
        4,
        hidden_features=8,
        num_hidden_layers=3,
        weight_init="torch",
        residual="linear",
        near_zero_blocks=True,
    )
    linears = [m for m in net.network if isinstance(m, torch.nn.Linear)]
    first, *blocks, output = linears
    for block in blocks:
        assert block.weight.abs().max() <= 1e-3 and block.bias.abs().max() <= 1e-3
    assert first.weight.abs().max() > 1e-2 and output.weight.abs().max() > 1e-2
    x = torch.randn(5, 3)
    path = output(first(x))  # each block adds relu(W relu(s) + b) with W, b below 1e-3
    assert (net(x) - path).abs().max() < 1e-2


def test_near_zero_blocks_without_a_residual_form_is_refused():
    with pytest.raises(ValueError, match="residual"):
        MLP(3, 4, near_zero_blocks=True)
