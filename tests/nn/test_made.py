import numpy as np
import pytest
import torch
from torch.autograd.functional import jacobian

from maflow.nn import MADE
from maflow.nn.made import input_degrees


def dependency(made, features, context=None):
    """|d out / d in| summed over the output chunks: (k, D, D) boolean."""
    x = torch.randn(features, dtype=torch.float64)
    jac = jacobian(lambda v: made(v.unsqueeze(0), context).squeeze(0), x)
    return (jac.abs() > 0).reshape(made.output_multiplier, features, features)


def random_configs(count=24):
    rng = np.random.RandomState(1234)
    for i in range(count):
        features = int(rng.randint(1, 12))
        layers = int(rng.randint(1, 4))
        hidden = [int(rng.randint(1, 2 * features + 3)) for _ in range(layers)]
        order = ["natural", "reversed", "random", list(rng.permutation(features))][i % 4]
        yield dict(
            features=features,
            hidden_features=hidden,
            output_multiplier=int(rng.randint(1, 4)),
            context_features=int(rng.randint(1, 4)) if i % 3 == 0 else None,
            order=order,
            hidden_degrees=["sequential", "random"][i % 2],
            seed=i,
        )


@pytest.mark.parametrize(
    "config",
    list(random_configs()),
    ids=lambda c: f"D{c['features']}-{c['order'] if isinstance(c['order'], str) else 'perm'}",
)
def test_output_depends_only_on_earlier_inputs(config):
    made = MADE(**config).double()
    context = (
        torch.randn(1, config["context_features"], dtype=torch.float64)
        if config["context_features"]
        else None
    )
    with torch.no_grad():
        for p in made.parameters():  # avoid ReLU dead zones hiding a connection
            p.normal_()
    deps = dependency(made, config["features"], context)
    degrees = made.input_degrees
    allowed = degrees[:, None] > degrees[None, :]
    assert not (deps & ~allowed).any(), "an output depends on its own or a later input"


def test_non_strict_output_mask_is_caught():
    # The bug of one seed implementation: the output mask used >= like the hidden masks.
    made = MADE(5, hidden_features=[20, 20]).double()
    with torch.no_grad():
        for p in made.parameters():
            p.normal_()
        d_in, d_hidden = made.degrees()[0], made.degrees()[-1]
        made.output_layer.mask.copy_((d_in[:, None] >= d_hidden[None, :]).double())
    deps = dependency(made, 5)
    assert deps[0].diagonal().any()


def test_connections_are_as_dense_as_allowed():
    made = MADE(6, hidden_features=[50, 50]).double()
    with torch.no_grad():
        for p in made.parameters():
            p.normal_()
    deps = dependency(made, 6)[0]
    assert deps.sum() == 15  # every strictly-lower pair is connected


def test_masks_are_buffers_and_cycle_deterministically():
    made = MADE(5, hidden_features=8, num_masks=3, order="random", hidden_degrees="random", seed=7)
    assert "output_layer.mask" in made.state_dict() and "input_degrees" in made.state_dict()
    first = made.output_layer.mask.clone()
    draws = []
    for _ in range(3):
        made.update_masks()
        draws.append(made.output_layer.mask.clone())
    assert torch.equal(draws[-1], first)
    assert not torch.equal(draws[0], first)
    other = MADE(5, hidden_features=8, num_masks=3, order="random", hidden_degrees="random", seed=7)
    other.update_masks()
    assert torch.equal(other.output_layer.mask, draws[0])


def test_any_command_line_seed_draws_masks():
    # numpy's legacy generator stops at 2**32 - 1; seeds below that keep their masks
    def made(seed):
        return MADE(5, hidden_features=16, num_masks=2, order="random", hidden_degrees="random", seed=seed)

    def mask(m):
        return m.output_layer.mask.clone()

    assert torch.equal(mask(made(2**40 + 3)), mask(made(2**40 + 3)))
    assert torch.equal(mask(made(2**32 + 3)), mask(made(3)))
    near = made(2**32 - 1)
    near.update_masks()  # the second draw's seed folds to 0
    assert torch.equal(mask(near), mask(made(0)))


def test_input_degrees_from_permutation():
    degrees = input_degrees(4, [2, 0, 3, 1], np.random.RandomState(0))
    assert degrees.tolist() == [2, 4, 1, 3]
    with pytest.raises(ValueError, match="permutation"):
        input_degrees(3, [0, 0, 1], np.random.RandomState(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(features=0),
        dict(features=3, hidden_features=0),
        dict(features=3, activation="nope"),
        dict(features=3, order="sideways"),
        dict(features=3, normalization="layer"),
        dict(features=3, context_features=2, context_mode="late"),
        dict(features=3, context_features=5, context_mode="snf", hidden_features=8),
        dict(features=3, weight_init="he"),
        dict(features=3, dropout=1.0),
        dict(features=3, hidden_features=[8, 6], residual=True),
        dict(features=3, residual="sum"),
    ],
)
def test_bad_arguments_are_rejected(kwargs):
    with pytest.raises(ValueError):
        MADE(**kwargs)


def test_conditional_made_needs_context():
    made = MADE(3, hidden_features=8, context_features=2)
    with pytest.raises(ValueError, match="context"):
        made(torch.randn(4, 3))
    assert made(torch.randn(4, 3), torch.randn(4, 2)).shape == (4, 3)


VARIANTS = [
    dict(normalization="batch", activation="elu"),
    dict(normalization="weight"),
    dict(residual=True, hidden_degrees="random"),
    dict(residual="scaled", hidden_degrees="random"),
    dict(context_mode="snf", context_features=10),
    dict(context_features=2, dropout=0.5),
    dict(weight_init="xavier", order="random"),
    dict(weight_init="orthogonal"),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(f"{k}={v[k]}" for k in sorted(v)))
def test_every_variant_is_autoregressive(variant):
    # karpathy/pytorch-made's check: the gradient of output i reaches only inputs generated earlier.
    torch.manual_seed(0)  # the weights are redrawn below: about 1 draw in 200 leaves no path at all
    made = MADE(7, hidden_features=[10, 10, 10], output_multiplier=2, seed=3, **variant).double()
    with torch.no_grad():
        made.train()(torch.randn(32, 7, dtype=torch.float64), _context(made, 32))  # norms see data
        for p in made.parameters():
            p.normal_()
    made.eval()
    deps = dependency(made, 7, _context(made, 1))
    degrees = made.input_degrees
    assert not (deps & ~(degrees[:, None] > degrees[None, :])).any()
    assert deps.any()


def _context(made, rows):
    return torch.randn(rows, made.context_features, dtype=torch.float64) if made.context_features else None


def test_identity_start_zeroes_the_output_layer():
    made = MADE(4, hidden_features=8, output_multiplier=3, identity_start=True)
    assert torch.equal(made(torch.randn(5, 4)), torch.zeros(5, 12))


def test_xavier_initialisation_is_per_output_chunk():
    torch.manual_seed(0)
    made = MADE(50, hidden_features=[400], output_multiplier=2, weight_init="xavier")
    bound = (6 / (400 + 50)) ** 0.5  # fan-out of one chunk (D), not of both (2D)
    weight = made.output_layer.weight
    assert bound * 0.95 < weight.abs().max() <= bound


def test_orthogonal_initialisation_as_the_made_authors():
    torch.manual_seed(0)
    made = MADE(20, hidden_features=[30, 30], weight_init="orthogonal")
    for layer in [*made.hidden_layers, made.output_layer]:
        weight = layer.weight.detach()  # (out, in): orthonormal rows when out <= in, else columns
        gram = weight @ weight.T if weight.shape[0] <= weight.shape[1] else weight.T @ weight
        assert torch.allclose(gram, torch.eye(len(gram)), atol=1e-5)
        assert torch.count_nonzero(layer.bias) == 0


def test_batch_norm_replaces_the_biases():
    made = MADE(4, hidden_features=8, normalization="batch")
    assert all(layer.bias is None for layer in [*made.hidden_layers, made.output_layer])
    assert isinstance(made.output_norm, torch.nn.BatchNorm1d)
