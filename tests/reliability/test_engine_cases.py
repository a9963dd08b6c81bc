"""The training engine's hostile and careless cases: the VAE, MNF and toy commands and the one Trainer.

Each refusal is one line with exit 2 and no traceback, and each library case gives the correct
result: a NaN stop resumes with a deliberate new learning rate, a larger patience trains an
early-stopped run on, zero epochs are refused.
"""

import math
import re
import shutil
from pathlib import Path

import pytest
import torch

from maflow.errors import CheckpointError, ConfigError
from maflow.train.guard import NonFiniteLossError
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer
from maflow.utils.io import load_checkpoint, save_checkpoint

from .cases import assert_one_line_refusal, run

TOY = ["toy", "--flow", "maf", "--quiet"]
VAE_EVALUATE = ["vae", "evaluate", "--is-samples", "5"]

# (argv, words of the error line); --out is added (a fresh folder) when the case has none.
CASES = {
    "toy --lr nan": ([*TOY, "--lr", "nan"], ["--lr"]),
    "toy --set train.lr=nan": ([*TOY, "--set", "train.lr=nan"], ["--lr must be a positive number"]),
    "toy --steps 0": ([*TOY, "--steps", "0"], ["--steps must be a whole number >= 1"]),
    "toy --epochs 0": ([*TOY, "--epochs", "0"], ["--epochs must be a whole number >= 1"]),
    "toy --set train.steps=abc": ([*TOY, "--set", "train.steps=abc"], ["steps", "whole number", "'abc'"]),
    "toy --set model.num_layers=0": (
        [*TOY, "--steps", "2", "--set", "model.num_layers=0"],
        ["maf with options"],
    ),
    "toy --lr 1e6 (diverges)": (
        [*TOY, "--lr", "1e6", "--steps", "40"],
        ["at step", "training stopped", "Lower --lr"],
    ),
    "vae train --set train.epochs=abc": (
        ["vae", "train", "--set", "train.epochs=abc"],
        ["epochs", "whole number", "'abc'"],  # --set's own check of the kind, or the VAE's
    ),
    "vae train --set train.lr=nan": (
        ["vae", "train", "--set", "train.lr=nan"],
        ["lr must be a positive number"],
    ),
    "vae train --epochs 0": (["vae", "train", "--epochs", "0"], ["epochs must be >= 1"]),
    "vae train --set train.dynamic_binarization=2": (
        ["vae", "train", "--set", "train.dynamic_binarization=2"],
        ["dynamic_binarization", "true or false"],
    ),
    "vae train --train-size 0": (["vae", "train", "--train-size", "0"], ["--limit-train must be at least 1"]),
    "vae evaluate --batch-size 0": (
        [*VAE_EVALUATE, "--batch-size", "0"],
        ["--batch-size must be at least 1"],
    ),
    "vae evaluate --num-examples -9995": (
        [*VAE_EVALUATE, "--num-examples", "-9995"],
        ["--num-examples must be at least 1"],
    ),
    "vae evaluate --is-samples -1": (
        ["vae", "evaluate", "--is-samples", "-1"],
        ["--is-samples must be >= 0"],
    ),
    "vae evaluate --is-samples 0 (no HAIS either)": (
        ["vae", "evaluate", "--is-samples", "0"],
        ["computes nothing"],
    ),
    "vae evaluate --hais --hais-steps 0": (
        [*VAE_EVALUATE, "--hais", "--hais-steps", "0"],
        ["--hais-steps must be at least 1"],
    ),
    "mnf train --epochs 0": (["mnf", "train", "--epochs", "0"], ["--epochs must be >= 1"]),
    "mnf train --max-minutes -1": (
        ["mnf", "train", "--max-minutes", "-1"],
        ["--max-minutes must be a positive"],
    ),
    "mnf train --set kl_weight=nan": (
        ["mnf", "train", "--set", "kl_weight=nan"],
        ["--kl-weight must be a number"],
    ),
}
if not torch.cuda.is_available():
    CASES["vae train --device cuda (no CUDA here)"] = (
        ["vae", "train", "--device", "cuda"],
        ["--device cuda: no CUDA device is available here"],
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_engine_command_refuses_in_one_line(name, tmp_path, capsys):
    argv, words = CASES[name]
    code = run([*argv, "--out", tmp_path / "run"])
    assert_one_line_refusal(code, capsys.readouterr().err, *words)


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    """A tiny trained VAE run folder (the shared checkpoint schema)."""
    from maflow.train.vae import VAETrainConfig, train_vae
    from tests.train.test_vae import grey_images, tiny_vae

    out = tmp_path_factory.mktemp("vae") / "run"
    config = {"data": {"dataset": "mnist_grey", "train_splits": ["train"]}}
    train_vae(
        tiny_vae(), grey_images(16), None, VAETrainConfig(epochs=1, batch_size=8), out, {"config": config}
    )
    return out


def _doctored(source: Path, target: Path, change) -> Path:
    shutil.copytree(source, target)
    path = target / "checkpoints" / "latest.pth"
    checkpoint = load_checkpoint(path)
    change(checkpoint)
    save_checkpoint(path, checkpoint)
    return target


def _set(section, key, value):
    return lambda checkpoint: checkpoint[section].__setitem__(key, value)


def _wrong_shape(checkpoint):
    name = next(k for k, v in checkpoint["model_state"].items() if v.ndim == 2)
    checkpoint["model_state"][name] = torch.zeros(3, 5)


CHECKPOINT_CASES = {
    "an unknown VAE setting": (
        _set("model_config", "no_such_setting", 3),
        ["cannot build", "no_such_setting"],
    ),
    "a VAE setting of the wrong kind": (_set("model_config", "encoder", "transformer"), ["cannot build"]),
    "a weight of the wrong shape": (_wrong_shape, ["do not fit", "has shape [3, 5]"]),
    "2**31 hidden units (nothing is allocated)": (
        _set("model_config", "hidden_features", [2**31]),
        ["latest.pth", "train again"],  # the loader's size check or the VAE's shape check
    ),
    "an epoch count of the wrong type": (_set("progress", "epoch", "three"), ["no valid epoch count"]),
    "another family's checkpoint": (lambda c: c.__setitem__("family", "flow"), ["is not a VAE checkpoint"]),
}


@pytest.mark.parametrize("name", sorted(CHECKPOINT_CASES))
def test_vae_evaluate_checks_a_checkpoint_before_building(name, vae_run, tmp_path, capsys):
    change, words = CHECKPOINT_CASES[name]
    out = _doctored(vae_run, tmp_path / "run", change)
    code = run(["vae", "evaluate", "--out", out, "--is-samples", "2", "--num-examples", "2"])
    assert_one_line_refusal(code, capsys.readouterr().err, *words)


def test_vae_checkpoint_checks_are_checkpoint_errors(vae_run, tmp_path):
    from maflow.train.vae_checkpoint import checked_vae, load_trained_vae

    model, stored = load_trained_vae(vae_run)
    assert stored["epochs_trained"] == 1 and not model.training
    out = _doctored(vae_run, tmp_path / "run", _wrong_shape)
    with pytest.raises(CheckpointError):
        load_trained_vae(out)
    checkpoint = load_checkpoint(vae_run / "checkpoints" / "latest.pth")
    huge = {**checkpoint["model_config"], "hidden_features": [2**31]}  # built on the meta device only
    with pytest.raises(CheckpointError, match="do not fit the stored VAE settings"):
        checked_vae(huge, checkpoint["model_state"], "latest.pth")


# --- the one Trainer -------------------------------------------------------------------------


def _trainer(folder: Path, epochs: int, patience, lr: float, values=None, loss_fn=None):
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(0)
    logger = TrainingLogger(folder / "training.log", echo=False)

    def validate(m):
        return (values.pop(0) if values else m.weight.abs().sum().item()), {}

    def checkpoint(**progress):
        from maflow.run.checkpoint import get_rng_states

        return {
            "model_state": m.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "rng_states": get_rng_states(generator),
            "progress": progress,
        }

    m = model
    trainer = Trainer(
        model,
        optimizer,
        loss_fn or (lambda model, x: model(x).pow(2).mean()),
        validate,
        checkpoint,
        folder,
        logger,
        epochs=epochs,
        batch_size=10,
        patience=patience,
        generator=generator,
        progress=False,
    )
    return trainer, logger


def test_zero_epochs_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="--epochs must be at least 1"):
        _trainer(tmp_path, 0, 5, 0.1)


def test_a_nan_stop_resumes_with_a_lower_learning_rate_recorded(tmp_path):
    data = torch.randn(40, 2)

    def loss(model, x, optimizer_lr):
        value = model(x).pow(2).mean()
        return value * math.nan if optimizer_lr() > 1 else value  # "diverges" at a rate above 1

    trainer, log = _trainer(tmp_path, 3, None, 10.0)
    trainer.loss_fn = lambda model, x: loss(model, x, lambda: trainer.optimizer.param_groups[0]["lr"])
    with pytest.raises(NonFiniteLossError, match="training stopped"):
        trainer.fit(data)
    log.close()
    resumed, log = _trainer(tmp_path, 3, None, 10.0)
    resumed.loss_fn = lambda model, x: loss(model, x, lambda: resumed.optimizer.param_groups[0]["lr"])
    resumed.restore(load_checkpoint(tmp_path / "latest.pth"))
    resumed.change_learning_rate(0.1)
    summary = resumed.fit(data)
    log.close()
    assert summary["epoch"] == 3
    latest = load_checkpoint(tmp_path / "latest.pth")
    assert latest["progress"]["lr_changes"] == [{"epoch": 0, "step": 0, "from": 10.0, "to": 0.1}]
    assert (
        "learning rate changed on resume at epoch 0 (step 0): 10 -> 0.1"
        in (tmp_path / "training.log").read_text()
    )
    with pytest.raises(ConfigError, match="--lr must be a positive number"):
        resumed.change_learning_rate(math.nan)


def test_an_early_stopped_run_trains_on_with_a_larger_patience(tmp_path):
    data = torch.randn(40, 2)
    worse = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]  # no improvement after the first validation
    trainer, log = _trainer(tmp_path, 10, 1, 0.01, values=list(worse))
    summary = trainer.fit(data)
    log.close()
    assert summary["stopped_early"] and summary["epoch"] == 2
    again, log = _trainer(tmp_path, 10, 1, 0.01, values=list(worse[2:]))
    again.restore(load_checkpoint(tmp_path / "latest.pth"))
    assert again.fit(data)["epoch"] == 2  # the same patience: still stopped, and the log says how to go on
    log.close()
    assert "resume with a --patience above 1" in (tmp_path / "training.log").read_text()
    more, log = _trainer(tmp_path, 10, 3, 0.01, values=list(worse[2:]))
    more.restore(load_checkpoint(tmp_path / "latest.pth"))
    summary = more.fit(data)
    log.close()
    assert summary["stopped_early"] and summary["epoch"] == 4  # two more validations without improvement
    assert "patience is now 3: training on" in (tmp_path / "training.log").read_text()


@pytest.mark.parametrize(
    "values, words",
    [
        ({"epochs": "abc"}, "epochs must be a whole number, got 'abc'"),
        ({"epochs": 1.5}, "epochs must be a whole number"),
        ({"dynamic_binarization": 2}, "dynamic_binarization must be true or false"),
        ({"lr": math.inf}, "lr must be a positive number"),
        ({"grad_clip": math.nan}, "grad_clip must be positive"),
        ({"epochs": 0}, "epochs must be >= 1"),
    ],
)
def test_vae_training_settings_from_a_file_are_checked_too(values, words):
    from maflow.train.vae import VAETrainConfig

    with pytest.raises(ConfigError, match=re.escape(f"[train] {words}")):
        VAETrainConfig.from_dict(values)
