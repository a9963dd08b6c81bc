"""Resuming a flow's training run: the checks that it is the same run, and its learning rate."""

from __future__ import annotations

from maflow.errors import ConfigError
from maflow.run.checkpoint import load_training_checkpoint
from maflow.run.paths import RunPaths
from maflow.train.loop import Trainer

__all__ = ["TRAJECTORY_SETTINGS", "check_same_trajectory", "resume_learning_rate", "resume_flow"]

# Settings that change the path of training: resuming with other values would not continue the
# run but start a different one from its middle. Epochs, patience, threads and the like may change;
# so may the learning rate, deliberately (resume_learning_rate: logged and recorded).
TRAJECTORY_SETTINGS = (
    "batch_size",
    "weight_decay",
    "weight_decay_mode",
    "grad_clip",
    "seed",
    "bn_stats",
)


def check_same_trajectory(stored: dict, current: dict, path) -> None:
    """Refuses a resume whose trajectory settings differ from the stored run's (one ConfigError line).

    Arguments:
        stored: The training configuration in the run's checkpoint.
        current: The training configuration asked for now.
        path: The checkpoint, named in the message.

    Example:
        >>> check_same_trajectory({"seed": 1, "lr": 1e-4}, {"seed": 1, "lr": 1e-3}, "latest.pth")
        >>> check_same_trajectory({"seed": 1}, {"seed": 2}, "latest.pth")
        Traceback (most recent call last):
        ...
        maflow.errors.ConfigError: latest.pth was trained with seed=1, but --resume asks for seed=2; --resume continues a run with its own settings: leave the flag out, or start a new run with another --out
    """  # noqa: E501
    for key in TRAJECTORY_SETTINGS:
        if key in stored and stored[key] != current.get(key):
            raise ConfigError(
                f"{path} was trained with {key}={stored[key]!r}, but --resume asks for "
                f"{key}={current.get(key)!r}; --resume continues a run with its own settings: leave "
                "the flag out, or start a new run with another --out"
            )


def resume_learning_rate(trainer: Trainer, stored: dict, lr: float) -> None:
    """A --lr other than the run's own on --resume (say lower, after a NaN stop) is used from here on.

    Without one, the restored optimiser keeps its rate (which a NaN rollback may have lowered).
    """
    if "lr" in stored and stored["lr"] != lr:
        trainer.change_learning_rate(lr)


def resume_flow(trainer: Trainer, config, parts: dict, paths: RunPaths, logger) -> None:
    """Restores ``trainer`` from the run's ``latest.pth`` (and ``best.pth``) after checking them.

    The checkpoints must hold the same model, data set and training rows (``parts``'
    ``model_config`` and ``fingerprint``) and the same trajectory settings; without a
    ``latest.pth`` a new run starts, with one log line.
    """
    if not paths.latest.is_file():
        logger.info(f"--resume: no checkpoint at {paths.latest}, starting a new run")
        return
    expected = dict(
        model_name=config.model,
        model_config=parts["model_config"],
        dataset=config.dataset,
        fingerprint=parts["fingerprint"],
    )
    latest = load_training_checkpoint(paths.latest, **expected)
    check_same_trajectory(latest.get("training_config", {}), parts["training_config"], paths.latest)
    best = load_training_checkpoint(paths.best, **expected) if paths.best.is_file() else None
    trainer.restore(latest, best)
    resume_learning_rate(trainer, latest.get("training_config", {}), config.lr)
    logger.info(f"resumed from {paths.latest} at epoch {trainer.epoch}, step {trainer.step}")
