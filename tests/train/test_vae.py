import json
import shutil
from pathlib import Path

import pytest
import torch

from maflow.cli.vae import load_vae_config
from maflow.errors import CheckpointError, ConfigError
from maflow.models.vae import VAE
from maflow.train.vae import VAETrainConfig, kl_warmup_scale, learning_rate, train_vae
from maflow.utils.io import load_checkpoint


def tiny_vae(**options):
    torch.manual_seed(0)
    settings = dict(
        image_shape=(1, 4, 4),
        latent_features=2,
        encoder="dense",
        decoder="dense",
        hidden_features=[8],
        context_features=8,
        flow_steps=2,
        flow_hidden_features=[8],
    )
    settings.update(options)
    return VAE(**settings)


def grey_images(count, pixels=16, seed=0):
    return torch.rand(count, pixels, generator=torch.Generator().manual_seed(seed))


def test_schedules_follow_the_configuration():
    assert [kl_warmup_scale(e, 200) for e in (0, 99, 199, 200, 2499)] == [1 / 200, 0.5, 1.0, 1.0, 1.0]
    assert kl_warmup_scale(0, 0) == 1.0
    lrs = [learning_rate(e, 1e-3, 800, 0.5) for e in (0, 799, 800, 1599, 1600, 2499)]
    assert lrs == [1e-3, 1e-3, 5e-4, 5e-4, 2.5e-4, 1.25e-4]


def test_trainer_applies_warmup_and_learning_rate_per_epoch(tmp_path):
    config = VAETrainConfig(
        epochs=4, batch_size=8, lr=1e-2, lr_decay_epochs=2, lr_decay_factor=0.1, warmup_epochs=2, eval_every=2
    )
    history = train_vae(tiny_vae(), grey_images(32), grey_images(8, seed=1), config, tmp_path)
    assert [h["warmup_scale"] for h in history] == [0.5, 1.0, 1.0, 1.0]
    assert [h["learning_rate"] for h in history] == pytest.approx([1e-2, 1e-2, 1e-3, 1e-3])
    assert ["val_elbo" in h for h in history] == [False, True, False, True]
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "latest.pth")
    assert checkpoint["optimizer_state"]["param_groups"][0]["lr"] == pytest.approx(1e-3)
    assert checkpoint["progress"]["epoch"] == 4 and checkpoint["family"] == "vae"
    assert VAE(**checkpoint["model_config"]).hparams == checkpoint["model_config"]  # the constructor config
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pth")
    assert best["progress"]["epoch"] == 4  # the better of the two validations
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["training"]["epochs_run"] == 4 and results["training"]["best_epoch"] == 4
    for name in (
        "results.txt",
        "logs/training.log",
        "history.json",
        "data_samples.png",
        "model_samples.png",
        "reconstructions.png",
    ):
        assert (tmp_path / name).is_file(), name
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    assert "warmup_scale 0.5000" in (tmp_path / "logs" / "training.log").read_text()


def test_resume_continues_exactly(tmp_path):
    config = dict(
        epochs=3, batch_size=8, warmup_epochs=2, lr_decay_epochs=2, checkpoint_every=1, eval_every=1
    )
    train, val = grey_images(24), grey_images(8, seed=1)
    straight = tiny_vae()
    full = train_vae(straight, train, val, VAETrainConfig(**config), tmp_path / "a")
    first = tiny_vae()
    train_vae(first, train, val, VAETrainConfig(**{**config, "epochs": 2}), tmp_path / "b")
    torch.manual_seed(123)  # the resumed run restores its own RNG states
    resumed_model = tiny_vae()
    resumed = train_vae(resumed_model, train, val, VAETrainConfig(**config), tmp_path / "b")
    assert len(resumed) == 3
    for a, b in zip(full, resumed):
        assert a["train_elbo"] == b["train_elbo"] and a["val_elbo"] == b["val_elbo"]
    for key, value in straight.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def test_resume_refuses_a_different_model(tmp_path):
    config = VAETrainConfig(epochs=1, batch_size=8)
    train_vae(tiny_vae(), grey_images(8), None, config, tmp_path)
    with pytest.raises(CheckpointError, match="different model"):
        train_vae(tiny_vae(latent_features=3), grey_images(8), None, VAETrainConfig(epochs=2), tmp_path)


def test_unknown_training_setting_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown training settings"):
        VAETrainConfig.from_dict({"epoch": 3})


def test_gpu_reproduction_configuration_runs_one_epoch(tmp_path):
    # karstenkreis/flow_vae's setting (ResNet, 8 IAF steps of cMADEs [1920, 1920], L = 64), on two batches of four.
    config = load_vae_config("vae_resnet_gpu")
    assert config["model"]["flow_hidden_features"] == [1920, 1920] and config["model"]["flow_steps"] == 8
    assert config["train"]["warmup_epochs"] == 200 and config["train"]["lr_decay_epochs"] == 800
    assert config["train"]["batch_size"] == 200 and config["train"]["epochs"] == 2500
    torch.manual_seed(0)
    model = VAE(image_shape=(1, 28, 28), **config["model"])
    train_config = VAETrainConfig.from_dict({**config["train"], "epochs": 1, "batch_size": 4})
    history = train_vae(model, grey_images(8, 784), grey_images(4, 784, seed=1), train_config, tmp_path)
    assert len(history) == 1 and history[0]["warmup_scale"] == 1 / 200 and history[0]["learning_rate"] == 1e-3
    assert torch.isfinite(torch.tensor([history[0]["train_elbo"], history[0]["val_elbo"]])).all()
    assert load_checkpoint(tmp_path / "checkpoints" / "latest.pth")["progress"]["epoch"] == 1


DATA = Path(__file__).parent / "data"
# The tiny runs below, as the VAE's own loop trained them before the VAE moved to the one
# Trainer (tests/train/data/vae_reference.json, written by that loop): the move kept them bit
# for bit, and an older run's checkpoint.pt (of the first run, after 2 of its 3 epochs) resumes.
REFERENCE_RUNS = {
    "vae3": (
        dict(epochs=3, batch_size=8, warmup_epochs=2, lr_decay_epochs=2, checkpoint_every=1, eval_every=1),
        lambda: (grey_images(24), grey_images(8, seed=1)),
    ),
    "vae_odd": (
        dict(epochs=2, batch_size=8, warmup_epochs=3, grad_clip=1.0, eval_every=2),
        lambda: (grey_images(22), None),
    ),
    "vae_max": (
        dict(epochs=2, batch_size=8, max_train_batches=3),
        lambda: (grey_images(40), grey_images(8, seed=1)),
    ),
}


@pytest.fixture
def recorded_threads():
    # The reference histories were recorded with two threads; a float32 sum over another number
    # of threads differs in its last bits (and an in-process CLI test may have set one thread).
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("name", sorted(REFERENCE_RUNS))
def test_the_one_trainer_reproduces_the_vae_loop_it_replaced(tmp_path, name, recorded_threads):
    reference = json.loads((DATA / "vae_reference.json").read_text())[name]
    config, data = REFERENCE_RUNS[name]
    history = train_vae(tiny_vae(), *data(), VAETrainConfig(**config), tmp_path, quiet=True)
    keys = ("train_elbo", "train_reconstruction", "train_kl", "warmup_scale", "val_elbo", "val_kl")
    for ours, theirs in zip(history, reference["history"], strict=True):
        assert {k: ours.get(k) for k in keys} == {k: theirs.get(k) for k in keys}


def test_a_run_of_the_older_layout_resumes_from_its_checkpoint_pt(tmp_path, recorded_threads):
    config, data = REFERENCE_RUNS["vae3"]
    reference = json.loads((DATA / "vae_reference.json").read_text())["vae3"]
    (tmp_path / "old").mkdir()
    shutil.copy(DATA / "vae_older_layout.pt", tmp_path / "old" / "checkpoint.pt")
    resumed_model = tiny_vae()
    resumed = train_vae(resumed_model, *data(), VAETrainConfig(**config), tmp_path / "old", quiet=True)
    assert [h["train_elbo"] for h in resumed] == [h["train_elbo"] for h in reference["history"]]
    assert [h.get("val_elbo") for h in resumed] == [h.get("val_elbo") for h in reference["history"]]
    assert load_checkpoint(tmp_path / "old" / "checkpoints" / "latest.pth")["progress"]["epoch"] == 3
    full = tiny_vae()
    train_vae(full, *data(), VAETrainConfig(**config), tmp_path / "new", quiet=True)
    for key, value in full.state_dict().items():
        assert torch.equal(value, resumed_model.state_dict()[key]), key


def test_an_older_runs_checkpoint_pt_still_evaluates(tmp_path):
    from maflow.train.vae_checkpoint import load_trained_vae
    from maflow.utils.io import save_checkpoint

    old = load_checkpoint(DATA / "vae_older_layout.pt")
    old["extra"] = {"config": {"data": {"dataset": "mnist_grey"}}}  # what maflow vae train stored
    save_checkpoint(tmp_path / "checkpoint.pt", old)
    model, stored = load_trained_vae(tmp_path)
    assert stored["epochs_trained"] == 2 and stored["path"].name == "checkpoint.pt"
    assert model.hparams == VAE.with_defaults(old["hparams"]) and not model.training
