"""Tests of the MNF / LeNet MNIST trainer on tiny random data."""

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from maflow.errors import CheckpointError, ConfigError
from maflow.train.mnf import MNFTrainConfig, classification_error, load_classifier, train_classifier
from maflow.utils.io import load_checkpoint, save_checkpoint


def tiny_mnist(num_train=100, num_other=20, seed=0):
    rng = np.random.default_rng(seed)
    images = lambda n: rng.random((n, 784), dtype=np.float32)
    labels = lambda n: rng.integers(0, 10, n)
    return SimpleNamespace(
        train=images(num_train),
        val=images(num_other),
        test=images(num_other),
        train_labels=labels(num_train),
        val_labels=labels(num_other),
        test_labels=labels(num_other),
    )


def test_run_writes_metrics_checkpoint_log_and_tensorboard(tmp_path):
    config = MNFTrainConfig(model="lenet", epochs=2, batch_size=25, log_every=1)
    metrics = train_classifier(config, tiny_mnist(), tmp_path, echo=False)
    stored = json.loads((tmp_path / "results.json").read_text())
    assert stored["epochs_completed"] == 2 and len(stored["history"]) == 2
    assert 0 <= stored["test"]["error_percent"] <= 100 and stored["test"]["count"] == 20
    assert metrics["parameters"] == 258_582
    assert "epoch 2 step 8 " in (tmp_path / "logs" / "training.log").read_text()
    assert any((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pth")
    assert best["family"] == "mnf" and best["progress"]["epoch"] == stored["best_epoch"]
    model = load_classifier(tmp_path)
    assert not model.is_bayesian


def test_mnf_resume_reproduces_an_uninterrupted_run(tmp_path):
    data = tiny_mnist(num_train=60, num_other=10)
    base = dict(model="mnf-lenet", batch_size=30, test_samples=2, kl_anneal_epochs=1.0)
    train_classifier(MNFTrainConfig(epochs=2, **base), data, tmp_path / "straight", echo=False)
    train_classifier(MNFTrainConfig(epochs=1, **base), data, tmp_path / "resumed", echo=False)
    train_classifier(MNFTrainConfig(epochs=2, **base), data, tmp_path / "resumed", resume=True, echo=False)
    straight = load_classifier(tmp_path / "straight").state_dict()
    resumed = load_classifier(tmp_path / "resumed").state_dict()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_the_authors_dense_width_is_stored_and_rebuilt_and_older_runs_keep_theirs(tmp_path):
    data = tiny_mnist(num_train=40, num_other=10)
    wide = MNFTrainConfig(model="mnf-lenet", epochs=1, batch_size=20, test_samples=1, dense_features=500)
    train_classifier(wide, data, tmp_path / "wide", echo=False)
    assert load_classifier(tmp_path / "wide").net[7].weight_mean.shape == (500, 800)
    with pytest.raises(CheckpointError, match="dense_features"):  # resuming as another width
        narrow = MNFTrainConfig(model="mnf-lenet", epochs=2, batch_size=20, test_samples=1)
        train_classifier(narrow, data, tmp_path / "wide", resume=True, echo=False)
    # The default width is not stored: runs written before the option resume as they were.
    assert MNFTrainConfig(model="mnf-lenet").model_options() == {"mask_mode": "fixed"}
    with pytest.raises(ConfigError, match="fixed layout"):
        MNFTrainConfig(model="lenet", dense_features=500)
    with pytest.raises(ConfigError, match="--max-std"):
        MNFTrainConfig(model="mnf-lenet", max_std=0.0)
    options = MNFTrainConfig(model="mnf-lenet", max_std=0.5, dense_features=500).model_options()
    assert options == {"mask_mode": "fixed", "dense_features": 500, "max_std": 0.5}


def test_existing_run_is_not_overwritten_and_resume_checks_the_model(tmp_path):
    data = tiny_mnist(num_train=50)
    train_classifier(MNFTrainConfig(model="lenet", epochs=1, batch_size=50), data, tmp_path, echo=False)
    with pytest.raises(ConfigError, match="--resume"):
        train_classifier(MNFTrainConfig(model="lenet", epochs=2, batch_size=50), data, tmp_path, echo=False)
    with pytest.raises(CheckpointError, match="lenet"):
        train_classifier(
            MNFTrainConfig(model="mnf-lenet", epochs=2, batch_size=50), data, tmp_path, resume=True
        )


def test_batch_larger_than_the_data_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="batch-size"):
        train_classifier(MNFTrainConfig(model="lenet", batch_size=500), tiny_mnist(), tmp_path, echo=False)


def test_classification_error_counts_wrong_argmax():
    class Constant(torch.nn.Module):
        is_bayesian = False

        def forward(self, x):
            return torch.log_softmax(torch.tensor([[0.0, 5.0]]).expand(len(x), 2), -1)

    result = classification_error(Constant(), torch.zeros(4, 3), torch.tensor([1, 1, 0, 1]))
    assert result["error_percent"] == 25.0 and result["num_samples"] == 1


def test_a_run_of_the_older_layout_still_resumes_and_loads(tmp_path):
    """Runs written before the shared layout kept ``checkpoint.pt``, ``metrics.json`` and ``train.log``."""
    data = tiny_mnist(num_train=60, num_other=10)
    base = dict(model="lenet", batch_size=30)
    train_classifier(MNFTrainConfig(epochs=2, **base), data, tmp_path / "straight", echo=False)
    old = tmp_path / "old"
    train_classifier(MNFTrainConfig(epochs=1, **base), data, old, echo=False)
    (old / "checkpoints" / "latest.pth").rename(old / "checkpoint.pt")
    (old / "results.json").rename(old / "metrics.json")
    assert not load_classifier(old).is_bayesian  # the run folder still names its model
    with pytest.raises(ConfigError, match="--resume"):  # checkpoint.pt still marks the run
        train_classifier(MNFTrainConfig(epochs=2, **base), data, old, echo=False)
    train_classifier(MNFTrainConfig(epochs=2, **base), data, old, resume=True, echo=False)
    straight, resumed = load_classifier(tmp_path / "straight").state_dict(), load_classifier(old).state_dict()
    assert all(torch.equal(straight[name], resumed[name]) for name in straight)


def test_a_checkpoint_of_the_loop_before_the_one_trainer_resumes_exactly(tmp_path):
    """That loop kept the history in ``training_config`` and per-batch means of a cut epoch."""
    data = tiny_mnist(num_train=60, num_other=10)
    base = dict(model="lenet", batch_size=30)
    train_classifier(MNFTrainConfig(epochs=3, **base), data, tmp_path / "straight", echo=False)
    old = tmp_path / "old"
    train_classifier(MNFTrainConfig(epochs=2, **base), data, old, echo=False)
    checkpoint = load_checkpoint(old / "checkpoints" / "latest.pth")
    progress = checkpoint["progress"]
    history = [
        {k: v for k, v in record.items() if k not in ("train_loss", "val_loss")} | {"wall_seconds": 1.0}
        for record in progress["history"]
    ]
    checkpoint["training_config"]["history"] = history
    keep = ("epoch", "step", "elapsed_seconds", "batch_in_epoch")
    checkpoint["progress"] = {k: progress[k] for k in keep} | {
        "epoch_nll_sum": 0.0,
        "epoch_kl_sum": 0.0,
        "epoch_correct_sum": 0,
    }
    (old / "checkpoints" / "latest.pth").unlink()
    (old / "checkpoints" / "best.pth").unlink()
    (old / "results.json").rename(old / "metrics.json")
    save_checkpoint(old / "checkpoint.pt", checkpoint)
    resumed = train_classifier(MNFTrainConfig(epochs=3, **base), data, old, resume=True, echo=False)
    assert [h["val_nll"] for h in resumed["history"]] == [
        h["val_nll"] for h in json.loads((tmp_path / "straight" / "results.json").read_text())["history"]
    ]
    straight, ours = load_classifier(tmp_path / "straight").state_dict(), load_classifier(old).state_dict()
    assert all(torch.equal(straight[name], ours[name]) for name in straight)


def test_resume_with_another_learning_rate_is_recorded(tmp_path):
    data = tiny_mnist(num_train=60, num_other=10)
    base = dict(model="lenet", batch_size=30)
    train_classifier(MNFTrainConfig(epochs=1, **base), data, tmp_path, echo=False)
    train_classifier(MNFTrainConfig(epochs=2, lr=1e-4, **base), data, tmp_path, resume=True, echo=False)
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "latest.pth")
    assert checkpoint["progress"]["lr_changes"] == [{"epoch": 1, "step": 2, "from": 1e-3, "to": 1e-4}]
    assert checkpoint["optimizer_state"]["param_groups"][0]["lr"] == 1e-4
    assert (
        "learning rate changed on resume at epoch 1 (step 2): 0.001 -> 0.0001"
        in (tmp_path / "logs" / "training.log").read_text()
    )
