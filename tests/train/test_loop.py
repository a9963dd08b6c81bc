"""The generic loop: early stopping, non-finite losses, exact resume."""

import pytest
import torch

from maflow.models.registry import build_model
from maflow.train.checkpoint import load_training_checkpoint, make_checkpoint
from maflow.train.logger import TrainingLogger
from maflow.train.loop import EarlyStopping, NonFiniteLossError, Trainer


def test_early_stopping_counts_validations_without_improvement():
    stop = EarlyStopping(patience=3)
    results = [stop.update(v) for v in (5.0, 4.0, 4.0, 4.5, 3.9, 4.0, 4.0, 4.0)]
    assert results == [True, True, False, False, True, False, False, False]
    assert stop.best == 3.9 and stop.should_stop


def _trainer(tmp_path, epochs, data, loss_fn=None, seed=0):
    torch.manual_seed(seed)
    model = build_model("maf", data.shape[1], num_layers=2, hidden_features=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(seed)
    config = {"features": data.shape[1], "context_features": None, "num_layers": 2, "hidden_features": 8}
    logger = TrainingLogger(tmp_path / "training.log", echo=False)
    trainer = Trainer(
        model,
        optimizer,
        loss_fn or (lambda m, x: -m.log_prob(x).mean()),
        lambda m: (-m.eval().log_prob(data[:20]).mean().item(), {}),
        lambda **p: make_checkpoint(model, "maf", config, "toy", {}, optimizer, generator=generator, **p),
        tmp_path,
        logger,
        epochs=epochs,
        batch_size=16,
        patience=100,
        grad_clip=5.0,
        generator=generator,
        progress=False,
    )
    return trainer, logger


def test_resumed_run_ends_with_the_same_parameters(tmp_path):
    data = torch.randn(100, 3) * torch.tensor([1.0, 2.0, 0.5])
    straight, log = _trainer(tmp_path / "a", 3, data)
    straight.fit(data)
    log.close()
    first, log = _trainer(tmp_path / "b", 2, data)
    first.fit(data)
    log.close()
    resumed, log = _trainer(tmp_path / "b", 3, data, seed=123)  # different init: restore must overwrite it
    resumed.restore(
        load_training_checkpoint(tmp_path / "b" / "latest.pth"),
        load_training_checkpoint(tmp_path / "b" / "best.pth"),
    )
    resumed.fit(data)
    log.close()
    a = load_training_checkpoint(tmp_path / "a" / "latest.pth")
    b = load_training_checkpoint(tmp_path / "b" / "latest.pth")
    assert a["progress"]["step"] == b["progress"]["step"] == 21
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key


def test_nan_loss_stops_with_the_step_and_the_last_checkpoint(tmp_path):
    data = torch.randn(64, 2)
    calls = {"n": 0}

    def loss_fn(model, x):
        calls["n"] += 1
        loss = -model.log_prob(x).mean()
        return loss * float("nan") if calls["n"] == 7 else loss

    trainer, log = _trainer(tmp_path, 5, data, loss_fn)
    with pytest.raises(NonFiniteLossError) as error:
        trainer.fit(data)
    log.close()
    message = str(error.value)
    assert "step 7" in message and "latest.pth (epoch 1)" in message
    assert "nan" in message
    assert "step 7" in (tmp_path / "training.log").read_text()
