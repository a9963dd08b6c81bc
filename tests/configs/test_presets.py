"""Every preset parses, uses known keys, and builds its models."""

import pytest

from maflow.configs import TRAIN_KEYS, available_presets, load_preset
from maflow.models.registry import build_model


def test_the_papers_settings_are_in_the_presets():
    assert {"digits", "mnist", "cifar10", "power", "gas", "hepmass", "miniboone", "bsds300"} <= set(
        available_presets()
    )
    assert load_preset("mnist")[1]["hidden_features"] == 1024
    assert load_preset("gas")[1]["activation"] == "tanh"
    assert load_preset("cifar10")[1]["hidden_degrees"] == "random"
    assert load_preset("power", "made")[0]["lr"] == 1e-3
    assert load_preset("nosuchdata")[2] == "default"


@pytest.mark.parametrize("name", available_presets())
@pytest.mark.parametrize("model", ["maf", "made"])
def test_each_preset_builds_its_model(name, model):
    train, options, source = load_preset(name, model)
    assert source == name and set(train) <= TRAIN_KEYS
    assert train["batch_size"] == 100 and train["weight_decay"] == 1e-6 and train["grad_clip"] == 5.0
    options.update(hidden_features=4)  # the structure, not the size, is under test
    flow = build_model(model, 3, **options)
    assert flow.features == 3
