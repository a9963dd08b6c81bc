"""SIGINT and SIGTERM in the flow Trainer: the step finishes, latest.pth keeps it, the resume is exact."""

import os
import signal

import pytest
import torch

from maflow.models.registry import build_model
from maflow.run.checkpoint import load_training_checkpoint, make_checkpoint
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer, TrainingInterrupted

CONFIG = {"features": 3, "context_features": None, "num_layers": 2, "hidden_features": 8}
EPOCHS = 4  # of 5 batches each (96 rows, batch 20)


def _run(directory, signal_at_step=None, signum=signal.SIGINT, in_validation_of=None, resume=False):
    torch.manual_seed(0)
    data = torch.randn(96, 3, generator=torch.Generator().manual_seed(5))
    model = build_model("maf", 3, num_layers=2, hidden_features=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    holder = {}

    def loss_fn(m, x):
        if holder["trainer"].step + 1 == signal_at_step:
            os.kill(os.getpid(), signum)  # arrives in the middle of this step
        return -m.log_prob(x + 0.01 * torch.randn_like(x)).mean()  # global RNG: must be kept too

    def validate_fn(m):
        if holder["trainer"].epoch == in_validation_of:
            os.kill(os.getpid(), signum)
        return -m.eval().log_prob(data[:32]).mean().item(), {}

    def checkpoint_fn(**progress):
        return make_checkpoint(model, "maf", CONFIG, "toy", {}, optimizer, generator=generator, **progress)

    with TrainingLogger(directory / "training.log", echo=False) as logger:
        trainer = Trainer(
            model, optimizer, loss_fn, validate_fn, checkpoint_fn, directory, logger,
            epochs=EPOCHS, batch_size=20, generator=generator, progress=False,
            resume_command="maflow train --dataset toy --resume",
        )  # fmt: skip
        holder["trainer"] = trainer
        if resume:
            trainer.restore(
                load_training_checkpoint(directory / "latest.pth"),
                load_training_checkpoint(directory / "best.pth")
                if (directory / "best.pth").exists()
                else None,
            )
        return trainer, trainer.fit(data)


def _same(a, b, where=""):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("step", [2, 8, 10])  # inside epoch 1, inside epoch 2, the end of epoch 2
def test_sigint_keeps_the_step_and_the_resume_is_bit_identical(tmp_path, step):
    straight, summary = _run(tmp_path / "straight")
    with pytest.raises(TrainingInterrupted) as caught:
        _run(tmp_path / "stopped", signal_at_step=step)
    error = caught.value
    assert error.exit_code == 130
    message = str(error)
    assert "\n" not in message and f"step {step} in " in message and "latest.pth" in message
    assert message.endswith("resume with: maflow train --dataset toy --resume")
    progress = load_training_checkpoint(tmp_path / "stopped" / "latest.pth")["progress"]
    assert progress["step"] == step and progress["batch_in_epoch"] == (step - 1) % 5 + 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored

    resumed, resumed_summary = _run(tmp_path / "stopped", resume=True)
    summary.pop("elapsed_seconds"), resumed_summary.pop("elapsed_seconds")
    assert resumed_summary == summary
    _same(straight.model.state_dict(), resumed.model.state_dict(), "final weights")
    for name in ("latest.pth", "best.pth"):
        a = load_training_checkpoint(tmp_path / "straight" / name)
        b = load_training_checkpoint(tmp_path / "stopped" / name)
        for checkpoint in (a, b):
            checkpoint["progress"].pop("elapsed_seconds")
        _same(a, b, name)


def test_sigterm_between_epochs_keeps_the_epoch_and_exits_143(tmp_path):
    with pytest.raises(TrainingInterrupted) as caught:
        _run(tmp_path, signum=signal.SIGTERM, in_validation_of=2)  # during epoch 2's validation
    assert caught.value.exit_code == 143
    assert "stopped by SIGTERM; kept epoch 2, step 10 in " in str(caught.value)
    progress = load_training_checkpoint(tmp_path / "latest.pth")["progress"]
    assert (progress["epoch"], progress["step"], progress["batch_in_epoch"]) == (2, 10, 0)
    assert "stopped by SIGTERM" in (tmp_path / "training.log").read_text()
