"""Property tests: every registered flow gives finite log-densities on finite inputs, and one clear
ValueError or TypeError (never a RuntimeError from deep inside) on malformed ones."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from maflow.data.dataset import Dataset
from maflow.distributions.flow import Flow
from maflow.errors import DataError
from maflow.models import MAF
from maflow.models.registry import MODELS, build_model

SETTINGS = settings(
    max_examples=30, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


@st.composite
def maf_and_inputs(draw):
    features = draw(st.integers(1, 5))
    context_features = draw(st.one_of(st.none(), st.integers(1, 3)))
    model = MAF(
        features,
        num_layers=draw(st.integers(1, 3)),
        hidden_features=draw(st.integers(1, 12)),
        num_hidden_layers=draw(st.integers(1, 2)),
        context_features=context_features,
        order=draw(st.sampled_from(["alternate", "random"])),
        hidden_degrees=draw(st.sampled_from(["sequential", "random"])),
        batch_norm=draw(st.booleans()),
        seed=draw(st.integers(0, 100)),
    ).eval()
    batch = draw(st.integers(1, 6))
    values = st.floats(-20, 20, allow_nan=False, width=32)
    x = torch.tensor(draw(st.lists(values, min_size=batch * features, max_size=batch * features)))
    x = x.reshape(batch, features)
    context = None
    if context_features is not None:
        context = torch.tensor(
            draw(st.lists(values, min_size=batch * context_features, max_size=batch * context_features))
        ).reshape(batch, context_features)
    return model, x, context


def _malformed(model: Flow, x: torch.Tensor, context, draw_index: int):
    """Every way of getting the inputs wrong, with what it must raise."""
    d, batch = model.features, x.shape[0]
    cases = [
        ("wrong width", torch.zeros(batch, d + 1), context, ValueError),
        ("no features axis", torch.tensor(0.0), context, ValueError),
        ("float64 into float32", x.double(), context, TypeError),
        ("integers", x.long(), context, TypeError),
        ("numpy array", x.numpy(), context, TypeError),
        ("empty batch", x[:0], context, ValueError),
    ]
    for bad in (math.nan, math.inf, -math.inf):
        poisoned = x.clone()
        poisoned.view(-1)[draw_index % x.numel()] = bad
        cases.append((f"{bad} in the inputs", poisoned, context, ValueError))
    if model.context_features is None:
        cases.append(("unexpected context", x, torch.zeros(batch, 2), ValueError))
    else:
        c = model.context_features
        cases += [
            ("missing context", x, None, ValueError),
            ("context of the wrong width", x, torch.zeros(batch, c + 1), ValueError),
            ("context rows do not match", x, torch.zeros(batch + 1, c), ValueError),
            ("float64 context", x, context.double(), TypeError),
            ("NaN in the context", x, torch.full((batch, c), math.nan), ValueError),
        ]
    return cases


@SETTINGS
@given(maf_and_inputs(), st.integers(0, 1000))
def test_maf_log_prob_is_finite_on_finite_inputs_and_rejects_malformed_ones(case, draw_index):
    model, x, context = case
    with torch.no_grad():
        log_prob = model.log_prob(x, context)
        assert log_prob.shape == x.shape[:1] and torch.isfinite(log_prob).all()
        for name, bad_x, bad_context, error in _malformed(model, x, context, draw_index):
            with pytest.raises(error) as raised:
                model.log_prob(bad_x, bad_context)
            assert str(raised.value), name


def test_device_mismatch_is_named():
    model = MAF(2, num_layers=1, hidden_features=4)
    with pytest.raises(ValueError, match="on meta but the flow is on cpu"):
        model.log_prob(torch.zeros(3, 2, device="meta"))


def test_messages_say_what_is_wrong():
    model = MAF(3, num_layers=1, hidden_features=4).eval()
    x = torch.zeros(4, 3)
    x[2, 1] = math.nan
    with pytest.raises(ValueError, match=r"1 NaN or infinite value\(s\) in 1 row\(s\) \(first at row 2\)"):
        model.log_prob(x)
    with pytest.raises(TypeError, match=r"inputs are torch.float64 but the flow is torch.float32"):
        model.log_prob(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"empty batch"):
        model.log_prob(torch.zeros(0, 3))
    assert model.double().log_prob(torch.zeros(4, 3, dtype=torch.float64)).dtype == torch.float64


# Image flows need square images: 16 features are a 4x4 one.
SHAPES = {
    "realnvp-ms": (16, dict(levels=1, hidden_channels=4)),
    "glow-ms": (16, dict(levels=1, hidden_channels=4)),
}
FLOW_MODELS = sorted(
    name
    for name in MODELS
    if isinstance(
        model := build_model(name, SHAPES.get(name, (2, {}))[0], **SHAPES.get(name, (2, {}))[1]), Flow
    )
    and model.density_of_outside_points
)


@pytest.mark.parametrize("name", FLOW_MODELS)
@pytest.mark.parametrize("context_features", [None, 2])
def test_every_registered_flow_validates_its_inputs(name, context_features):
    torch.manual_seed(0)
    if name in SHAPES and context_features:
        pytest.skip("image flows take no context")
    features, options = SHAPES.get(name, (3, {}))
    model = build_model(name, features, context_features, **options).eval()
    batch = 5
    x = torch.randn(batch, features)
    context = torch.randn(batch, context_features) if context_features else None
    with torch.no_grad():
        assert torch.isfinite(model.log_prob(x, context)).all()
        for index, (what, bad_x, bad_context, error) in enumerate(_malformed(model, x, context, 7)):
            with pytest.raises(error):
                model.log_prob(bad_x, bad_context)
            assert what and index >= 0


def test_nan_in_a_data_split_is_a_data_error_naming_split_and_row():
    train = np.zeros((5, 2), np.float32)
    train[3, 0] = np.inf
    splits = {"train": train, "val": np.zeros((2, 2), np.float32), "test": np.zeros((2, 2), np.float32)}
    with pytest.raises(DataError, match=r"train split contains NaN or Inf in 1 row\(s\) \(first at row 3\)"):
        Dataset("toy", "toy", 2, **splits).validate()


def test_value_validation_can_be_switched_off_and_compiled_log_prob_is_one_graph():
    import torch._dynamo as dynamo

    from maflow.distributions.flow import set_value_validation

    model = build_model("nsf-ar", 3, num_layers=2, hidden_features=8, identity_init=False).eval()
    bad = torch.full((2, 3), float("nan"))
    set_value_validation(False)
    try:
        assert torch.isnan(model.log_prob(bad)).all()  # no check, no host synchronisation
    finally:
        set_value_validation(True)
    with pytest.raises(ValueError, match="NaN"):
        model.log_prob(bad)
    dynamo.reset()
    explanation = dynamo.explain(model.log_prob)(torch.randn(4, 3))
    assert explanation.graph_break_count == 0, [r.reason for r in explanation.break_reasons]


@pytest.mark.parametrize(
    "name, x",
    [
        ("maf", torch.tensor([[3e38, -3e38, 1.0]])),
        ("maf-mog", torch.tensor([[1e30, -1e30, 2.0]])),
        ("iaf", 60 * torch.tensor([[1.0, -1.0, 0.5]])),
    ],
)
def test_finite_inputs_far_in_the_tails_get_minus_inf_never_nan(name, x):
    torch.manual_seed(0)
    model = build_model(name, 3, num_layers=2, hidden_features=8).eval()
    with torch.no_grad():
        for parameter in model.parameters():  # a trained model's weights are far from zero
            parameter.add_(torch.randn_like(parameter))
        log_prob = model.log_prob(x)
    assert not torch.isnan(log_prob).any() and (log_prob < 0).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_iaf_at_its_initialisation_gives_minus_inf_for_large_inputs(dtype):
    # Each step divides by sigmoid(s): the recovered noise grows doubly exponentially.
    model = build_model("iaf", 3).to(dtype).eval()
    with torch.no_grad():
        log_prob = model.log_prob(60 * torch.tensor([[1.0, -1.0, 0.5]], dtype=dtype))
    assert torch.equal(log_prob, torch.tensor([-torch.inf], dtype=dtype))


def test_nan_weights_still_give_nan():
    model = build_model("maf", 3, num_layers=1, hidden_features=8).eval()
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
        assert torch.isnan(model.log_prob(torch.randn(2, 3))).all()


def test_batch_norm_refuses_one_row_in_training_mode():
    model = build_model("maf", 3, num_layers=1, hidden_features=8, batch_norm=True).train()
    with pytest.raises(ValueError, match="at least 2 rows"):
        model.log_prob(torch.randn(1, 3))
    assert model.eval().log_prob(torch.randn(1, 3)).shape == (1,)
