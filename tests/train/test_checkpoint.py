"""Checkpoints: RNG states round trip, safe loading, mismatches named, models rebuilt."""

import random

import numpy as np
import pytest
import torch

from maflow.errors import CheckpointError
from maflow.models.registry import build_model
from maflow.train.checkpoint import (
    data_fingerprint,
    get_rng_states,
    load_training_checkpoint,
    make_checkpoint,
    rebuild_model,
    save_training_checkpoint,
    set_rng_states,
)


def _draws(generator):
    return (
        torch.rand(3).tolist(),
        np.random.rand(3).tolist(),
        [random.random() for _ in range(3)],
        torch.randperm(10, generator=generator).tolist(),
    )


def test_rng_states_survive_a_safe_save_and_load(tmp_path):
    generator = torch.Generator().manual_seed(3)
    np.random.randn()  # leaves a cached gaussian in numpy's state
    save_training_checkpoint(tmp_path / "rng.pth", {"rng": get_rng_states(generator)})
    expected = _draws(generator)
    states = torch.load(tmp_path / "rng.pth", weights_only=True)["rng"]
    other = torch.Generator().manual_seed(99)
    set_rng_states(states, other)
    assert _draws(other) == expected


def _checkpoint(model, dataset="digits", data=None):
    config = {"features": 3, "context_features": None, "num_layers": 2, "hidden_features": 8}
    data = np.arange(60, dtype=np.float32).reshape(20, 3) if data is None else data
    return make_checkpoint(model, "maf", config, dataset, data_fingerprint(data), epoch=1, step=5)


def test_rebuilt_model_has_identical_log_prob(tmp_path):
    torch.manual_seed(0)
    model = build_model("maf", 3, num_layers=2, hidden_features=8)
    model.train()
    model.log_prob(torch.randn(50, 3))  # moves the batch-norm running statistics
    save_training_checkpoint(tmp_path / "c.pth", _checkpoint(model))
    rebuilt = rebuild_model(load_training_checkpoint(tmp_path / "c.pth", dataset="digits"))
    x = torch.randn(6, 3)
    assert torch.equal(model.eval().log_prob(x), rebuilt.eval().log_prob(x))


@pytest.mark.parametrize(
    "expected, words",
    [
        ({"dataset": "mnist"}, ["'digits'", "'mnist'"]),
        ({"model_name": "made"}, ["'maf'", "'made'"]),
        (
            {
                "model_config": {
                    "features": 3,
                    "context_features": None,
                    "num_layers": 3,
                    "hidden_features": 8,
                }
            },
            ["num_layers=2", "num_layers=3"],
        ),
        (
            {"fingerprint": data_fingerprint(np.zeros((20, 3), np.float32))},
            ["different data", "different values", "another --out"],
        ),
        ({"fingerprint": data_fingerprint(np.zeros((21, 3), np.float32))}, ["[20, 3] then, [21, 3] now"]),
    ],
)
def test_mismatched_checkpoint_names_the_mismatch(tmp_path, expected, words):
    model = build_model("maf", 3, num_layers=2, hidden_features=8)
    save_training_checkpoint(tmp_path / "c.pth", _checkpoint(model))
    with pytest.raises(CheckpointError) as error:
        load_training_checkpoint(tmp_path / "c.pth", **expected)
    for word in words:
        assert word in str(error.value)


def test_fingerprint_sees_a_changed_row():
    data = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    changed = data.copy()
    changed[-1, 0] += 1
    assert data_fingerprint(data) == data_fingerprint(data.copy())
    assert data_fingerprint(data) != data_fingerprint(changed)


def test_fingerprint_covers_every_row_and_still_reads_the_older_one():
    from maflow.run.checkpoint import same_data

    data = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
    middle = data.copy()
    middle[50, 2] += 1  # the older fingerprint (first and last 8 rows) could not see this
    assert data_fingerprint(data)["sha256"] == data_fingerprint(middle)["sha256"]
    assert not same_data(data_fingerprint(data), data_fingerprint(middle))
    older = {key: data_fingerprint(data)[key] for key in ("shape", "sha256")}  # a checkpoint from before
    assert same_data(older, data_fingerprint(data)) and same_data(
        data_fingerprint(data), data_fingerprint(data)
    )
