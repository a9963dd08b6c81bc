"""The training step never waits for the device: checks and sums stay there until a read-back."""

import os
import random
import signal
import sys

import pytest
import torch
from torch.overrides import TorchFunctionMode

from maflow.models.registry import build_model
from maflow.run.interrupt import TrainingInterrupted
from maflow.train.checkpoint import load_training_checkpoint, make_checkpoint
from maflow.train.epoch_totals import EpochTotals
from maflow.train.guard import NonFiniteGuard, NonFiniteLossError, NonFiniteRecord, parameters_finite
from maflow.train.logger import TrainingLogger
from maflow.train.loop import SYNC_EVERY, Trainer

CONFIG = {"features": 3, "context_features": None, "num_layers": 2, "hidden_features": 8}
READ_BACKS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy", "cpu")


def _trainer(directory, loss_fn=None, sync_every=SYNC_EVERY, guard=None, epochs=3, rows=96, **options):
    torch.manual_seed(0)
    data = torch.randn(rows, 3) * torch.tensor([1.0, 2.0, 0.5])
    model = build_model("maf", 3, num_layers=2, hidden_features=8)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    generator = torch.Generator().manual_seed(0)
    logger = TrainingLogger(directory / "training.log", echo=False)
    trainer = Trainer(
        model,
        optimizer,
        loss_fn or (lambda m, x: -m.log_prob(x).mean()),
        lambda m: (-m.eval().log_prob(data[:20]).mean().item(), {}),
        lambda **p: make_checkpoint(model, "maf", CONFIG, "toy", {}, optimizer, generator=generator, **p),
        directory,
        logger,
        epochs=epochs,
        batch_size=16,
        grad_clip=5.0,
        generator=generator,
        progress=False,
        nan_guard=guard,
        sync_every=sync_every,
        **options,
    )
    return trainer, data, logger


def _poison(calls: set, raise_on_nan_weights: bool = False):
    """The MAF's loss, NaN at the given call numbers; optionally raising once a weight is NaN
    (as a family's loss might, say a torch.distributions check)."""
    count = {"n": 0}

    def loss_fn(model, x):
        count["n"] += 1
        if raise_on_nan_weights and not parameters_finite(model):
            raise ValueError("a parameter is NaN")
        loss = -model.log_prob(x).mean()
        return loss * float("nan") if count["n"] in calls else loss

    return loss_fn


def _with_sums(model, x):
    log_prob = model.log_prob(x)
    return -log_prob.mean(), {"nll_sum": -log_prob.sum(), "squares": float((x**2).sum()), "rows": len(x)}


@pytest.mark.parametrize("loss_fn", [None, _with_sums], ids=["loss", "loss and sums"])
def test_histories_and_weights_do_not_depend_on_sync_every(tmp_path, loss_fn):
    results = []
    for sync_every in (1, 4, SYNC_EVERY):
        trainer, data, log = _trainer(tmp_path / str(sync_every), loss_fn, sync_every)
        trainer.fit(data)
        log.close()
        results.append((trainer.history, trainer.model.state_dict()))
    (history, weights), others = results[0], results[1:]
    assert len(history) == 3 and ("nll_sum" in history[0]) == (loss_fn is not None)
    for other_history, other_weights in others:
        assert other_history == history  # exactly: float64 sums on the device, as Python's
        assert all(torch.equal(weights[key], other_weights[key]) for key in weights)


def test_device_sums_round_as_python_float_sums():
    rng = random.Random(0)
    totals, python_total, python_sums, count = EpochTotals(1.25, 3, {"kl": 0.5}), 1.25, {"kl": 0.5}, 3
    for _ in range(2000):
        loss = torch.tensor(rng.uniform(-1e4, 1e4), dtype=torch.float32)
        part = torch.tensor(rng.uniform(-1e6, 1e6), dtype=torch.float32)
        size = rng.randint(1, 500)
        totals.add(loss, size, {"kl": part, "count": size})
        python_total += loss.item() * size
        python_sums["kl"] += float(part)
        python_sums["count"] = python_sums.get("count", 0.0) + float(size)
        count += size
    assert totals.values() == (python_total, count, python_sums)


class _ReadBacks(TorchFunctionMode):
    """Counts the calls outside torch that copy a tensor's value to the host (a wait on a GPU).

    torch's own code is left out: Adam reads its step counters, which live on the CPU even when
    the parameters are on a GPU, so those reads never wait for it.
    """

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        caller = sys._getframe(1).f_code.co_filename
        if getattr(func, "__name__", "") in READ_BACKS and f"{os.sep}torch{os.sep}" not in caller:
            self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("sync_every", [1000, 3])
def test_read_backs_in_an_epoch_do_not_grow_with_its_steps(tmp_path, sync_every):
    counts = {}
    for rows in (64, 256):  # 4 and 16 steps an epoch
        trainer, data, log = _trainer(tmp_path / str(rows), sync_every=sync_every, epochs=1, rows=rows)
        train_epoch, seen = trainer.train_epoch, []

        def counted(data, train_epoch=train_epoch, seen=seen):
            with _ReadBacks() as mode:
                result = train_epoch(data)
            seen.append(mode.count)
            return result

        trainer.train_epoch = counted
        trainer.fit(data)
        log.close()
        counts[rows] = seen[0]
    if sync_every > 16:
        assert counts[64] == counts[256] > 0  # only the end of the epoch reads back
    else:  # and one read-back per check, every sync_every steps: 1 check in 4 steps, 5 in 16
        assert counts[256] - counts[64] == 16 // 3 - 4 // 3


@pytest.mark.parametrize("sync_every", [1, 2, SYNC_EVERY])
def test_a_late_check_names_the_first_bad_step_and_rolls_back_as_an_immediate_one(tmp_path, sync_every):
    guard = NonFiniteGuard("rollback", lr_factor=0.5, max_rollbacks=2)
    trainer, data, log = _trainer(tmp_path, _poison({9}), sync_every, guard)
    trainer.fit(data)
    log.close()
    text = (tmp_path / "training.log").read_text()
    # 6 batches an epoch: call 9 is step 9, the third batch of epoch 2.
    assert "the loss became nan at step 9 (epoch 2, batch 3)" in text
    assert "rolled back to the start of epoch 2 (step 6)" in text and trainer.step == 18
    reference, _, log = _trainer(tmp_path / "reference", _poison({9}), 1, NonFiniteGuard("rollback", 0.5, 2))
    reference.fit(data)
    log.close()
    assert trainer.history == reference.history
    weights = reference.model.state_dict()
    assert all(torch.equal(value, trainer.model.state_dict()[key]) for key, value in weights.items())


def test_a_stop_after_steps_on_nan_keeps_the_last_good_weights_and_saves_nothing_bad(tmp_path):
    trainer, data, log = _trainer(tmp_path, _poison({8}), sync_every=SYNC_EVERY)  # default guard: stop
    with pytest.raises(NonFiniteLossError, match=r"loss became nan at step 8 \(epoch 2, batch 2\)"):
        trainer.fit(data)
    log.close()
    assert parameters_finite(trainer.model)  # back at the start of epoch 2, not the NaN steps after
    epoch_one = load_training_checkpoint(tmp_path / "latest.pth")
    assert epoch_one["progress"]["epoch"] == 1 and epoch_one["progress"]["step"] == 6
    for key, value in epoch_one["model_state"].items():
        assert torch.equal(value, trainer.model.state_dict()[key]), key


def test_an_error_after_an_unchecked_nan_is_reported_as_the_nan(tmp_path):
    guard = NonFiniteGuard("rollback", lr_factor=0.5, max_rollbacks=1)
    trainer, data, log = _trainer(tmp_path, _poison({8}, raise_on_nan_weights=True), SYNC_EVERY, guard)
    trainer.fit(data)  # the ValueError two steps later is the NaN's consequence: rolled back, finished
    log.close()
    assert "the loss became nan at step 8" in (tmp_path / "training.log").read_text()
    assert trainer.epoch == 3 and trainer.guard.rollbacks == 1
    trainer, data, log = _trainer(tmp_path / "plain", lambda m, x: 1 / 0)
    with pytest.raises(ZeroDivisionError):  # an error without a NaN before it stays what it is
        trainer.fit(data)
    log.close()


def test_an_interrupt_after_an_unchecked_nan_keeps_only_good_state(tmp_path):
    count = {"n": 0}

    def loss_fn(model, x):
        count["n"] += 1
        if count["n"] == 10:  # two steps after the NaN, before any check
            os.kill(os.getpid(), signal.SIGINT)
        loss = -model.log_prob(x).mean()
        return loss * float("nan") if count["n"] == 8 else loss

    guard = NonFiniteGuard("rollback", lr_factor=0.5, max_rollbacks=2)
    trainer, data, log = _trainer(tmp_path, loss_fn, SYNC_EVERY, guard)
    with pytest.raises(TrainingInterrupted):
        trainer.fit(data)
    log.close()
    text = (tmp_path / "training.log").read_text()
    assert "rolled back to the start of epoch 2 (step 6)" in text
    latest = load_training_checkpoint(tmp_path / "latest.pth")  # the rolled-back epoch 1, not step 10
    assert latest["progress"]["step"] == 6 and latest["progress"]["nan_rollbacks"] == 1
    assert all(torch.isfinite(v).all() for v in latest["model_state"].values() if v.is_floating_point())


def test_non_finite_record_keeps_the_first_bad_value():
    record = NonFiniteRecord()
    assert record.first() is None
    for tag, value in enumerate([1.0, 2.0, float("-inf"), float("nan")]):
        record.note(torch.tensor(value), tag)
    assert record.first() == (2, float("-inf"))
    record.note(torch.tensor([1.0, float("nan")]), 9)  # a tensor counts when any entry is bad
    assert record.first() == (2, float("-inf"))


def test_sync_every_must_be_positive(tmp_path):
    from maflow.errors import ConfigError

    with pytest.raises(ConfigError, match="sync_every"):
        _trainer(tmp_path, sync_every=0)
