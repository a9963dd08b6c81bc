"""Resuming from a mid-run checkpoint ends exactly where an uninterrupted run ends.

Everything that shapes the rest of a run must be in the checkpoint: weights, optimiser and
scheduler, the torch, numpy and Python RNGs (the loss below draws from all three), the
data-order generator, epoch and step, the early-stopping counter and best value, the best
weights and the NaN-rollback count.
"""

import random

import numpy as np
import pytest
import torch

from maflow.models.registry import build_model
from maflow.train.checkpoint import load_training_checkpoint, make_checkpoint
from maflow.train.guard import NonFiniteGuard
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer

CONFIG = {"features": 3, "context_features": None, "num_layers": 2, "hidden_features": 8}
EPOCHS = 8
# Added to the validation loss after each epoch: epochs 4 and 5 do not improve on epoch 3,
# and epoch 8 does not improve either, so the final weights are restored from the best state.
VALIDATION_BUMP = [0.0, 0.0, 0.0, 0.0, 9.0, 9.0, 0.0, 0.0, 9.0]


class _Interrupt(Exception):
    pass


def _run(directory, stop_at_step=None, init_seed=0, resume=False):
    torch.manual_seed(init_seed)
    np.random.seed(init_seed)
    random.seed(init_seed)
    data = torch.randn(96, 3, generator=torch.Generator().manual_seed(5)) * torch.tensor([1.0, 2.0, 0.5])
    model = build_model("maf", 3, num_layers=2, hidden_features=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5)
    generator = torch.Generator().manual_seed(0)
    holder = {}

    def loss_fn(m, x):
        if stop_at_step is not None and holder["trainer"].step + 1 == stop_at_step:
            raise _Interrupt  # a kill in the middle of an epoch
        # Noise from all three global RNGs: a resume that missed one would diverge.
        jitter = 0.01 * torch.randn_like(x) + 0.01 * float(np.random.randn()) + 0.01 * random.random()
        return -m.log_prob(x + jitter).mean()

    def validate_fn(m):
        value = -m.eval().log_prob(data[:32]).mean().item() + VALIDATION_BUMP[holder["trainer"].epoch]
        return value, {}

    def checkpoint_fn(**progress):
        return make_checkpoint(
            model, "maf", CONFIG, "toy", {}, optimizer, scheduler, generator=generator, **progress
        )

    logger = TrainingLogger(directory / "training.log", echo=False)
    trainer = Trainer(
        model,
        optimizer,
        loss_fn,
        validate_fn,
        checkpoint_fn,
        directory,
        logger,
        epochs=EPOCHS,
        batch_size=20,  # 5 batches per epoch, the last one of 16
        patience=3,
        grad_clip=5.0,
        generator=generator,
        scheduler=scheduler,
        progress=False,
        nan_guard=NonFiniteGuard("rollback"),
    )
    holder["trainer"] = trainer
    if resume:
        trainer.restore(
            load_training_checkpoint(directory / "latest.pth"),
            load_training_checkpoint(directory / "best.pth"),
        )
    try:
        summary = trainer.fit(data)
    except _Interrupt:
        summary = None
    finally:
        logger.close()
    return trainer, summary


def _assert_equal(a, b, where=""):
    if isinstance(a, dict):
        assert set(a) == set(b), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_equal(x, y, f"{where}[{i}]")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    else:
        assert a == b, where


@pytest.mark.parametrize("stop_at_step", [28, 39])
def test_resume_from_a_mid_epoch_kill_ends_with_identical_parameters(tmp_path, stop_at_step):
    straight, summary = _run(tmp_path / "straight")
    assert summary["epoch"] == EPOCHS and summary["best_epoch"] < EPOCHS  # the bumps worked

    _run(tmp_path / "killed", stop_at_step=stop_at_step)
    checkpoint = load_training_checkpoint(tmp_path / "killed" / "latest.pth")
    progress = checkpoint["progress"]
    # Killed in epoch 6 (step 28) or 8 (step 39): mid-run, with a pending patience count, a best
    # epoch behind the latest one and a decayed learning rate.
    assert progress["epoch"] == (stop_at_step - 1) // 5
    if stop_at_step == 28:
        assert progress["patience_counter"] == 2 and progress["best_epoch"] == 3
    assert checkpoint["scheduler_state"]["last_epoch"] == progress["epoch"]

    # Another seed for everything: whatever the restore misses would show.
    resumed, resumed_summary = _run(tmp_path / "killed", init_seed=123, resume=True)
    summary.pop("elapsed_seconds"), resumed_summary.pop("elapsed_seconds")
    assert resumed_summary == summary
    _assert_equal(straight.model.state_dict(), resumed.model.state_dict(), "final (best) weights")
    for name in ("latest.pth", "best.pth"):
        a = load_training_checkpoint(tmp_path / "straight" / name)
        b = load_training_checkpoint(tmp_path / "killed" / name)
        for checkpoint in (a, b):
            checkpoint["progress"].pop("elapsed_seconds")
        _assert_equal(a, b, name)
