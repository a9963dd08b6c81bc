import torch

from maflow.models.realnvp import RealNVP
from maflow.models.realnvp_recipe import RECIPES, SCALES, stored_form, with_recipe


def test_arguments_left_at_none_take_the_scale_recipe_and_given_ones_stay():
    config = with_recipe({"features": 5, "scale": None, "batch_norm": True, "mask": "random"})
    assert config["scale"] == "bounded" and config["mask"] == "random"  # given: kept
    assert config["residual"] == "linear" and config["final_batch_norm"] is False  # the recipe's
    assert with_recipe({"features": 5, "scale": None, "batch_norm": False})["scale"] == "softplus"


def test_near_zero_blocks_follow_the_recipe_only_for_a_residual_form():
    assert not with_recipe({"features": 5, "scale": "bounded", "residual": False})["near_zero_blocks"]
    assert with_recipe({"features": 5, "scale": "bounded"})["near_zero_blocks"]


def test_other_scales_take_the_softplus_column():
    for scale in ("sigmoid", "exp"):
        config = with_recipe({"features": 5, "scale": scale})
        assert {k: config[k] for k in RECIPES["softplus"]} == RECIPES["softplus"]


def test_the_stored_form_is_read_from_the_code_or_from_the_keys():
    bounded = RealNVP(5, num_layers=2, hidden_features=8)
    state = bounded.state_dict()
    assert stored_form(bounded.config, state, "") == {"scale": "bounded", "final_batch_norm": False}
    softplus = RealNVP(5, num_layers=2, hidden_features=8, scale="softplus").state_dict()
    del softplus["scale_code"]  # from before the code: one net per layer was softplus
    assert stored_form(bounded.config, softplus, "") == {"scale": "softplus", "final_batch_norm": True}
    exp = RealNVP(5, num_layers=2, hidden_features=8, scale="exp").state_dict()
    del exp["scale_code"]
    assert stored_form(bounded.config, exp, "")["scale"] == "exp"
    prefixed = {"flow." + key: value for key, value in state.items()}
    assert stored_form(bounded.config, prefixed, "flow.") == stored_form(bounded.config, state, "")
    assert SCALES[int(state["scale_code"])] == "bounded"


def test_a_flow_inside_another_module_loads_a_state_dict_of_another_form():
    torch.manual_seed(0)
    old = torch.nn.ModuleDict({"flow": RealNVP(5, num_layers=2, hidden_features=8, scale="softplus")}).eval()
    new = torch.nn.ModuleDict({"flow": RealNVP(5, num_layers=2, hidden_features=8)}).eval()
    new.load_state_dict(old.state_dict())
    x = torch.randn(3, 5)
    assert torch.equal(new["flow"].log_prob(x), old["flow"].log_prob(x))
