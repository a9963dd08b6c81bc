"""Flows under torch.compile and torch.export: one graph, the eager values, no host synchronisation."""

import pytest
import torch

from maflow.distributions import set_default_validate_args
from maflow.models.registry import build_model

SMALL = {"num_layers": 2, "hidden_features": 8}


@pytest.fixture
def no_validation():
    set_default_validate_args(False)
    yield
    set_default_validate_args(True)


def test_validate_args_is_per_flow_and_falls_back_to_the_default():
    flow = build_model("maf", 2, **SMALL).eval()
    bad = torch.tensor([[float("nan"), 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        flow.log_prob(bad)
    flow.validate_args = False
    assert torch.isnan(flow.log_prob(bad)).all()  # unchecked: the NaN flows through
    flow.validate_args = None
    set_default_validate_args(False)
    try:
        assert not flow.validate_args
        assert torch.isnan(flow.log_prob(bad)).all()
    finally:
        set_default_validate_args(True)
    assert flow.validate_args


def test_validate_args_does_not_enter_the_checkpoint():
    flow = build_model("maf", 2, **SMALL)
    flow.validate_args = False
    assert not any("validate" in key for key in flow.state_dict())


# Inductor's C++ code generation costs about a minute per model here: it runs for MAF; the
# others go through AOT autograd without code generation, which traces the same single graph.
@pytest.mark.parametrize(
    "name, backend",
    [("maf", "inductor"), ("realnvp", "aot_eager"), ("nsf-ar", "aot_eager"), ("nsf-cl", "aot_eager")],
)
def test_log_prob_compiles_to_one_graph_with_the_eager_values(name, backend, no_validation):
    torch.manual_seed(0)
    flow = build_model(name, 4, **SMALL).eval()
    with torch.no_grad():  # away from the identity start, so that the comparison means something
        for parameter in flow.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    x = torch.randn(16, 4)
    torch._dynamo.reset()
    compiled = torch.compile(lambda x: flow.log_prob(x), fullgraph=True, backend=backend)
    torch.testing.assert_close(compiled(x), flow.log_prob(x), rtol=1e-5, atol=1e-4)


def test_maf_log_prob_exports_with_a_dynamic_batch(no_validation):
    torch.manual_seed(0)
    flow = build_model("maf", 3, **SMALL).eval()

    class LogProb(torch.nn.Module):
        def __init__(self, flow):
            super().__init__()
            self.flow = flow

        def forward(self, x):
            return self.flow.log_prob(x)

    batch = torch.export.Dim("batch", min=2)
    program = torch.export.export(LogProb(flow), (torch.randn(8, 3),), dynamic_shapes=({0: batch},))
    x = torch.randn(5, 3)
    torch.testing.assert_close(program.module()(x), flow.log_prob(x))


def test_values_unchecked_switches_every_inner_flow_off_and_restores_each_setting():
    from maflow.distributions.flow import values_unchecked

    outer = torch.nn.ModuleList([build_model("maf", 2, **SMALL), build_model("realnvp", 2, **SMALL)]).eval()
    outer[1].validate_args = True
    bad = torch.tensor([[float("nan"), 0.0]])
    with values_unchecked(outer):
        assert all(torch.isnan(flow.log_prob(bad)).all() for flow in outer)
    assert outer[0]._validate_args is None and outer[1]._validate_args is True
    with pytest.raises(ValueError, match="NaN"):
        outer[0].log_prob(bad)
