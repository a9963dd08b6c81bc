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
    handler = signal.getsignal(signal.SIGINT)  # SIG_IGN in a process started in the background
    with pytest.raises(TrainingInterrupted) as caught:
        _run(tmp_path / "stopped", signal_at_step=step)
    error = caught.value
    assert error.exit_code == 130
    message = str(error)
    assert "\n" not in message and f"step {step} in " in message and "latest.pth" in message
    assert message.endswith("resume with: maflow train --dataset toy --resume")
    progress = load_training_checkpoint(tmp_path / "stopped" / "latest.pth")["progress"]
    assert progress["step"] == step and progress["batch_in_epoch"] == (step - 1) % 5 + 1
    assert signal.getsignal(signal.SIGINT) is handler  # handlers restored

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


def test_a_signal_in_the_last_validation_stops_before_the_final_steps(tmp_path):
    with pytest.raises(TrainingInterrupted, match=f"kept epoch {EPOCHS}, step {5 * EPOCHS} in "):
        _run(tmp_path, in_validation_of=EPOCHS)
    resumed, summary = _run(tmp_path, resume=True)
    assert summary["epoch"] == EPOCHS and resumed.step == 5 * EPOCHS


def _signal_at_training_step(monkeypatch, module, builder, step, method="forward", signum=signal.SIGINT):
    """Wraps ``module.builder`` so that the model's ``step``-th training call of ``method`` sends ``signum``."""
    original = getattr(module, builder)
    calls = {"n": 0}

    def build(*args, **kwargs):
        model = original(*args, **kwargs)
        original_method = getattr(model, method)

        def signalling(*a, **k):
            if model.training:
                calls["n"] += 1
                if calls["n"] == step:
                    os.kill(os.getpid(), signum)
            return original_method(*a, **k)

        setattr(model, method, signalling)
        return model

    monkeypatch.setattr(module, builder, build)


def test_binary_made_interrupt_resumes_exactly(tmp_path, monkeypatch):
    import maflow.train.made as made
    from tests.train.test_made import noisy_copies, tiny_config

    train, val = noisy_copies(120), noisy_copies(40, seed=1)
    config = tiny_config(num_masks=2, resample_every=3, epochs=3, batch_size=25)  # 5 batches an epoch
    straight, summary = made.train_made(train, val, config, tmp_path / "straight", log=lambda _: None)
    with monkeypatch.context() as patch:
        _signal_at_training_step(patch, made, "build_bernoulli_made", 7, "log_prob")  # epoch 2, batch 2
        with pytest.raises(
            TrainingInterrupted, match=r"kept epoch 2 \(batch 2\), step 7 in .*checkpoints/latest.pth"
        ):
            made.train_made(train, val, config, tmp_path / "stopped", log=lambda _: None)
    resumed, resumed_summary = made.train_made(
        train, val, config, tmp_path / "stopped", log=lambda _: None, resume=True
    )
    assert resumed_summary["history"][-1]["train_nll"] == summary["history"][-1]["train_nll"]
    assert [h["val_nll"] for h in resumed_summary["history"]] == [h["val_nll"] for h in summary["history"]]
    _same(straight.state_dict(), resumed.state_dict(), "best weights")


def test_mnf_interrupt_resumes_exactly(tmp_path, monkeypatch):
    import maflow.models.mnf as mnf_models
    from maflow.run.checkpoint import load_classifier
    from maflow.train.mnf import MNFTrainConfig, train_classifier
    from tests.train.test_mnf import tiny_mnist

    data = tiny_mnist(num_train=50, num_other=20)
    config = MNFTrainConfig(model="mnf-lenet", epochs=2, batch_size=25, test_samples=2)  # 2 batches an epoch
    straight = train_classifier(config, data, tmp_path / "straight", echo=False)
    with monkeypatch.context() as patch:
        _signal_at_training_step(patch, mnf_models, "build_classifier", 3, signum=signal.SIGTERM)
        with pytest.raises(TrainingInterrupted, match=r"SIGTERM; kept epoch 2 \(batch 1\), step 3") as caught:
            train_classifier(config, data, tmp_path / "stopped", echo=False)
    assert caught.value.exit_code == 143
    resumed = train_classifier(config, data, tmp_path / "stopped", resume=True, echo=False)
    assert resumed["history"][-1]["train_nll"] == straight["history"][-1]["train_nll"]
    assert resumed["test"] == straight["test"]
    _same(
        load_classifier(tmp_path / "straight").state_dict(),
        load_classifier(tmp_path / "stopped").state_dict(),
        "weights",
    )


def test_vae_interrupt_resumes_exactly(tmp_path):
    from maflow.train.vae import VAETrainConfig, train_vae
    from tests.train.test_vae import grey_images, tiny_vae

    config = VAETrainConfig(epochs=3, batch_size=8, warmup_epochs=2, checkpoint_every=1, eval_every=1)
    train, val = grey_images(24), grey_images(8, seed=1)  # 3 batches an epoch
    straight = tiny_vae()
    full = train_vae(straight, train, val, config, tmp_path / "a")

    stopped = tiny_vae()
    forward, calls = stopped.forward, {"n": 0}

    def signalling(*args, **kwargs):
        if stopped.training:
            calls["n"] += 1
            if calls["n"] == 5:  # epoch 2, batch 2
                os.kill(os.getpid(), signal.SIGINT)
        return forward(*args, **kwargs)

    stopped.forward = signalling
    with pytest.raises(
        TrainingInterrupted, match=r"kept epoch 2 \(batch 2\), step 5 in .*checkpoints/latest.pth"
    ):
        train_vae(stopped, train, val, config, tmp_path / "b")
    torch.manual_seed(123)  # the resumed run restores its own RNG states
    resumed_model = tiny_vae()
    resumed = train_vae(resumed_model, train, val, config, tmp_path / "b")
    assert [(h["train_elbo"], h["val_elbo"]) for h in resumed] == [
        (h["train_elbo"], h["val_elbo"]) for h in full
    ]
    _same(straight.state_dict(), resumed_model.state_dict(), "weights")
