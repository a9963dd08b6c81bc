import math

import numpy as np
import pytest
import torch

from maflow.errors import CheckpointError, ConfigError, DataError
from maflow.models import bernoulli_made
from maflow.train.made import (
    MadeTrainConfig,
    evaluate_log_likelihood,
    load_trained_made,
    mask_index_at_step,
    train_made,
)


def noisy_copies(num_rows: int, features: int = 6, flip: float = 0.05, seed: int = 0) -> np.ndarray:
    """x_0 ~ Bern(1/2); every other bit copies it, flipped with probability ``flip``."""
    rng = np.random.RandomState(seed)
    first = rng.rand(num_rows, 1) < 0.5
    flips = rng.rand(num_rows, features - 1) < flip
    return np.concatenate([first, first ^ flips], axis=1).astype(np.float32)


def entropy_of_noisy_copies(features: int = 6, flip: float = 0.05) -> float:
    def h(p):
        return -p * math.log(p) - (1 - p) * math.log(1 - p)

    return math.log(2) + (features - 1) * h(flip)


def tiny_config(**options) -> MadeTrainConfig:
    defaults = dict(hidden_features=[16], epochs=4, batch_size=25, lr=1e-2, eval_batch_size=64, seed=0)
    defaults.update(options)
    return MadeTrainConfig(**defaults)


def test_mask_schedule_is_a_pure_function_of_the_step():
    assert [mask_index_at_step(s, 4, 3) for s in range(14)] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0, 0]
    assert {mask_index_at_step(s, 1, 20) for s in range(100)} == {0}


def test_training_cycles_masks_every_r_steps(tmp_path, monkeypatch):
    used = []
    original = bernoulli_made.BernoulliMADE.set_mask_index

    def record(self, index):
        used.append(index)
        original(self, index)

    monkeypatch.setattr(bernoulli_made.BernoulliMADE, "set_mask_index", record)
    train, val = noisy_copies(100), noisy_copies(40, seed=1)
    config = tiny_config(num_masks=3, resample_every=2, ensemble_masks=1, epochs=2, patience=5)
    train_made(train, val, config, tmp_path, log=lambda _: None)
    # 4 steps per epoch; validation (S = 1) visits mask 0 and restores the training mask.
    per_step = [mask_index_at_step(s, 3, 2) for s in range(8)]
    expected = per_step[:4] + [0, per_step[3]] + per_step[4:] + [0, per_step[7]] + [0]
    assert used == expected


def test_training_learns_the_distribution_and_reports_its_test_nll(tmp_path):
    train, val, test = noisy_copies(2000), noisy_copies(500, seed=1), noisy_copies(2000, seed=2)
    config = tiny_config(epochs=15, num_masks=2, ensemble_masks=2, resample_every=5)
    model, summary = train_made(train, val, config, tmp_path, log=lambda _: None)
    nll = -evaluate_log_likelihood(model, test, 2).mean()
    independent = 6 * math.log(2) * 0.999  # what ignoring the correlations costs, about
    assert nll < entropy_of_noisy_copies() + 0.1 < independent
    assert summary["best_val_nll"] == pytest.approx(min(h["val_nll"] for h in summary["history"]))
    checkpoints = tmp_path / "checkpoints"
    assert (checkpoints / "best.pth").is_file() and (checkpoints / "latest.pth").is_file()
    assert (tmp_path / "logs" / "training.log").is_file()


def test_early_stopping_on_validation(tmp_path):
    # Training drives p(all zeros) up, so the all-ones validation NLL worsens every epoch.
    train = np.zeros((50, 4), dtype=np.float32)
    val = np.ones((10, 4), dtype=np.float32)
    _, summary = train_made(train, val, tiny_config(epochs=50, patience=3), tmp_path, log=lambda _: None)
    assert summary["stopped_by"] == "early stopping"
    assert summary["best_epoch"] == 1 and summary["epochs_run"] == 4


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path):
    train, val = noisy_copies(120), noisy_copies(40, seed=1)
    config = tiny_config(num_masks=2, resample_every=3, epochs=4)
    straight, _ = train_made(train, val, config, tmp_path / "straight", log=lambda _: None)
    train_made(train, val, tiny_config(num_masks=2, resample_every=3, epochs=2), tmp_path / "split", log=None)
    with pytest.raises(CheckpointError, match="other options"):  # another path of training
        other = tiny_config(num_masks=2, resample_every=3, epochs=4, lr=0.5)
        train_made(train, val, other, tmp_path / "split", resume=True, log=lambda _: None)
    # A longer run with a constant learning rate continues the same path.
    resumed, summary = train_made(train, val, config, tmp_path / "split", resume=True, log=lambda _: None)
    assert summary["epochs_run"] == 4
    for (name, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_a_run_of_the_older_layout_resumes_and_loads(tmp_path):
    """``checkpoint.pt`` and ``best.pt`` (before the shared layout) still resume and evaluate."""
    import copy
    import dataclasses

    from maflow.train.made import fingerprint
    from maflow.utils.io import save_checkpoint

    train, val = noisy_copies(120), noisy_copies(40, seed=1)
    config = tiny_config(num_masks=2, resample_every=3, epochs=2).validated()
    model, summary = train_made(train, val, config, tmp_path / "new", log=None)
    trained = copy.deepcopy(model.state_dict())
    old = {
        "config": dataclasses.asdict(config),
        "features": 6,
        "train_fingerprint": fingerprint(train),
        "state": {
            "epoch": 2,
            "step": 10,
            "best_val_nll": summary["best_val_nll"],
            "best_epoch": 2,
            "bad_epochs": 0,
        },
        "history": [{"epoch": 1, "train_nll": 1.0, "val_nll": 1.0, "lr": 0.01, "seconds": 0.0}],
        "elapsed_seconds": 1.0,
        "model": trained,
        "best_model": trained,
        "optimizer": torch.optim.Adam(model.parameters()).state_dict(),
        "generator": torch.Generator().manual_seed(0).get_state(),
    }
    (tmp_path / "old").mkdir()
    save_checkpoint(tmp_path / "old" / "checkpoint.pt", old)
    save_checkpoint(tmp_path / "old" / "best.pt", old)
    loaded, _ = load_trained_made(tmp_path / "old")
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), trained.values()))
    _, later = train_made(train, val, config, tmp_path / "old", resume=True, log=None)
    assert later["epochs_run"] == 2  # nothing left to train: the old run was at its last epoch
    with pytest.raises(CheckpointError, match="different data|other data"):
        train_made(train[:100], val, config, tmp_path / "old", resume=True, log=None)


def test_load_trained_made_scores_like_the_trained_model(tmp_path):
    train, val = noisy_copies(100), noisy_copies(40, seed=1)
    config = tiny_config(num_masks=3, ensemble_masks=3, direct_input=True, epochs=2)
    model, _ = train_made(train, val, config, tmp_path, extra={"dataset": "toy"}, log=lambda _: None)
    loaded, checkpoint = load_trained_made(tmp_path)
    assert checkpoint["dataset"] == "toy"
    np.testing.assert_array_equal(
        evaluate_log_likelihood(model, val, 3), evaluate_log_likelihood(loaded, val, 3)
    )


def test_bad_inputs_raise_clear_errors(tmp_path):
    train = noisy_copies(20)
    with pytest.raises(DataError, match="not binary"):
        train_made(train + 0.5, train, tiny_config(), tmp_path, log=lambda _: None)
    with pytest.raises(DataError, match="features"):
        train_made(train, train[:, :3], tiny_config(), tmp_path, log=lambda _: None)
    with pytest.raises(ConfigError, match="--samples"):
        tiny_config(num_masks=2, ensemble_masks=3).validated()
    with pytest.raises(ConfigError, match="--val-samples"):
        tiny_config(num_masks=2, ensemble_masks=2, val_ensemble_masks=3).validated()
    assert tiny_config(num_masks=2, ensemble_masks=2).validated().val_ensemble_masks == 2
    with pytest.raises(ConfigError, match="order random"):
        tiny_config(num_masks=2, order="natural").validated()
    with pytest.raises(CheckpointError):
        load_trained_made(tmp_path / "missing")


def test_fresh_masks_use_a_new_draw_at_every_update_and_never_cycle(tmp_path, monkeypatch):
    used = []
    original = bernoulli_made.BernoulliMADE.set_mask_index

    def record(self, index):
        used.append(index)
        original(self, index)

    monkeypatch.setattr(bernoulli_made.BernoulliMADE, "set_mask_index", record)
    train, val = noisy_copies(100), noisy_copies(40, seed=1)
    config = tiny_config(fresh_masks=True, resample_every=1, ensemble_masks=5, val_ensemble_masks=2)
    model, _ = train_made(train, val, config, tmp_path, log=lambda _: None)
    # 4 updates per epoch, 4 epochs: updates use draws 0..15, each once; validation (S = 2)
    # visits draws 0 and 1 and restores the training draw; the end selects draw 0.
    expected = [i for e in range(4) for i in [*range(4 * e, 4 * e + 4), 0, 1, 4 * e + 3]] + [0]
    assert used == expected
    assert model.num_masks > 10**9
    # The test mixture of 5 draws is a different (but well-defined) score than one draw.
    ensemble = evaluate_log_likelihood(model, val, 5)
    assert np.isfinite(ensemble).all() and not np.allclose(ensemble, evaluate_log_likelihood(model, val, 1))
    reloaded, _ = load_trained_made(tmp_path)
    assert np.allclose(evaluate_log_likelihood(reloaded, val, 5), ensemble)


@pytest.mark.parametrize(
    "name, kind",
    [("adam", torch.optim.Adam), ("adadelta", torch.optim.Adadelta), ("adagrad", torch.optim.Adagrad)],
)
def test_optimizer_option_builds_the_named_optimizer_and_trains(tmp_path, name, kind):
    from maflow.train.made import build_optimizer

    config = tiny_config(optimizer=name, lr=1.0 if name == "adadelta" else 1e-2, eps=1e-5).validated()
    optimizer = build_optimizer([torch.zeros(2, requires_grad=True)], config)
    assert type(optimizer) is kind and optimizer.param_groups[0]["eps"] == 1e-5
    if name == "adadelta":
        assert optimizer.param_groups[0]["rho"] == 0.95
    train, val = noisy_copies(200), noisy_copies(50, seed=1)
    _, summary = train_made(train, val, config, tmp_path, log=lambda _: None)
    history = summary["history"]
    assert history[-1]["val_nll"] < history[0]["val_nll"]


def test_fresh_masks_and_optimizer_options_are_checked():
    with pytest.raises(ConfigError, match="optimizer"):
        MadeTrainConfig(optimizer="sgd").validated()
    with pytest.raises(ConfigError, match="rho"):
        MadeTrainConfig(optimizer="adadelta", rho=1.5).validated()
    with pytest.raises(ConfigError, match="order random"):
        MadeTrainConfig(fresh_masks=True, order="natural").validated()
    assert MadeTrainConfig(fresh_masks=True, ensemble_masks=1000).validated().ensemble_masks == 1000
    with pytest.raises(ConfigError, match="--samples"):
        MadeTrainConfig(ensemble_masks=1000).validated()


def test_summary_reports_two_and_one_standard_errors():
    from maflow.train.made import summarize

    rng = np.random.RandomState(0)
    values = -rng.rand(400) * 10
    summary = summarize(values)
    standard_error = values.std() / math.sqrt(values.size)
    assert summary["nll_2se"] == pytest.approx(2 * standard_error) and summary["nll_1se"] == pytest.approx(
        standard_error
    )
