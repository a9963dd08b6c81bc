"""NaN and Inf in the loss, gradients or weights: rollback with a smaller rate, or a clear stop."""

import pytest
import torch

from maflow.errors import ConfigError
from maflow.models.registry import build_model
from maflow.train.checkpoint import load_training_checkpoint, make_checkpoint
from maflow.train.guard import NonFiniteGuard, NonFiniteLossError, gradient_norm, parameters_finite
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer

CONFIG = {"features": 2, "context_features": None, "num_layers": 2, "hidden_features": 8}


def _trainer(directory, loss_fn, guard=None, epochs=4, grad_clip=5.0):
    torch.manual_seed(0)
    data = torch.randn(64, 2)
    model = build_model("maf", 2, num_layers=2, hidden_features=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    logger = TrainingLogger(directory / "training.log", echo=False)
    trainer = Trainer(
        model,
        optimizer,
        loss_fn,
        lambda m: (-m.eval().log_prob(data[:20]).mean().item(), {}),
        lambda **p: make_checkpoint(model, "maf", CONFIG, "toy", {}, optimizer, generator=generator, **p),
        directory,
        logger,
        epochs=epochs,
        batch_size=16,
        grad_clip=grad_clip,
        generator=generator,
        progress=False,
        nan_guard=guard,
    )
    return trainer, data, logger


def _poison_at(calls: set, kind: str = "loss"):
    """A loss that is NaN (or has NaN gradients, or NaNs a weight) at the given call numbers."""
    count = {"n": 0}

    def loss_fn(model, x):
        count["n"] += 1
        loss = -model.log_prob(x).mean()
        if count["n"] not in calls:
            return loss
        if kind == "loss":
            return loss * float("nan")
        if kind == "gradient":  # finite value 0, gradient 0 * inf = NaN
            weight = next(model.parameters())
            return loss + 0.0 * torch.sqrt((weight - weight.detach()).sum())
        # Saved state goes NaN while the loss stays finite: a batch-norm running mean.
        model.transform.transforms[1].running_mean[0] = float("nan")
        return loss

    return loss_fn


def test_nan_loss_rolls_back_with_a_smaller_learning_rate_and_finishes(tmp_path):
    guard = NonFiniteGuard("rollback", lr_factor=0.25, max_rollbacks=2)
    trainer, data, log = _trainer(tmp_path, _poison_at({7}), guard)
    summary = trainer.fit(data)
    log.close()
    assert summary["epoch"] == 4 and summary["step"] == 16  # the failed epoch ran again in full
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * 0.25)
    latest = load_training_checkpoint(tmp_path / "latest.pth")
    assert latest["progress"]["nan_rollbacks"] == 1
    assert latest["optimizer_state"]["param_groups"][0]["lr"] == pytest.approx(2.5e-3)
    text = (tmp_path / "training.log").read_text()
    assert "step 7" in text and "rolled back to the start of epoch 2 (step 4)" in text


@pytest.mark.parametrize("kind", ["gradient", "weight"])
def test_nan_gradient_or_weight_is_caught_without_clipping(tmp_path, kind):
    trainer, data, log = _trainer(tmp_path, _poison_at({6}, kind), grad_clip=None)
    with pytest.raises(NonFiniteLossError) as error:
        trainer.fit(data)
    log.close()
    message = str(error.value)
    where = "step 6" if kind == "gradient" else "end of epoch 2"
    assert where in message and "latest.pth (epoch 1)" in message and "training stopped" in message
    for name in ("best.pth", "latest.pth"):  # only the good epoch 1 was ever saved
        checkpoint = load_training_checkpoint(tmp_path / name)
        assert checkpoint["progress"]["epoch"] == 1
        assert all(
            torch.isfinite(v).all() for v in checkpoint["model_state"].values() if v.is_floating_point()
        )


def test_rollbacks_are_limited_then_training_stops_naming_step_and_checkpoint(tmp_path):
    guard = NonFiniteGuard("rollback", lr_factor=0.5, max_rollbacks=3)
    trainer, data, log = _trainer(tmp_path, _poison_at(set(range(6, 1000))), guard)
    with pytest.raises(NonFiniteLossError) as error:
        trainer.fit(data)
    log.close()
    message = str(error.value)
    assert "after 3 rollback(s)" in message and "latest.pth (epoch 1)" in message
    assert "step 5" in message  # each retry of epoch 2 fails at its first step
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 / 8)
    best = load_training_checkpoint(tmp_path / "best.pth")
    assert best["progress"]["epoch"] == 1 and parameters_finite(trainer.model)


def test_nan_before_any_checkpoint_says_so(tmp_path):
    trainer, data, log = _trainer(tmp_path, _poison_at({2}))
    with pytest.raises(NonFiniteLossError, match="no checkpoint was written yet"):
        trainer.fit(data)
    log.close()


def test_rollback_count_survives_resume(tmp_path):
    guard = NonFiniteGuard("rollback", max_rollbacks=1)
    trainer, data, log = _trainer(tmp_path, _poison_at({7}), guard, epochs=2)
    trainer.fit(data)
    log.close()
    resumed, _, log = _trainer(tmp_path, _poison_at({3}), NonFiniteGuard("rollback", max_rollbacks=1))
    resumed.restore(load_training_checkpoint(tmp_path / "latest.pth"))
    with pytest.raises(NonFiniteLossError, match="after 1 rollback"):
        resumed.fit(data)  # the one rollback allowed was used before the resume
    log.close()


def test_gradient_norm_and_settings():
    layer = torch.nn.Linear(2, 1)
    assert gradient_norm(layer.parameters()) == 0  # no gradients yet
    layer(torch.ones(1, 2)).sum().backward()
    assert gradient_norm(layer.parameters()) == pytest.approx(3**0.5)
    for kwargs, flag in [
        ({"policy": "ignore"}, "--nan-policy"),
        ({"lr_factor": 0.0}, "--nan-lr-factor"),
        ({"lr_factor": 1.5}, "--nan-lr-factor"),
        ({"max_rollbacks": -1}, "--max-rollbacks"),
    ]:
        with pytest.raises(ConfigError, match=flag):
            NonFiniteGuard(**kwargs)
