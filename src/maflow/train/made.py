"""Training and evaluation of a Bernoulli MADE on binary data, with connectivity-agnostic training."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from maflow.errors import CheckpointError, ConfigError, DataError
from maflow.models.bernoulli_made import BernoulliMADE
from maflow.run.checkpoint import same_data
from maflow.run.folder import remove_own_temporaries
from maflow.train.logger import TrainingLogger
from maflow.train.loop import Trainer
from maflow.utils.io import ensure_writable_dir, load_checkpoint
from maflow.utils.stats import mean_and_error

__all__ = [
    "MadeTrainConfig",
    "build_bernoulli_made",
    "build_optimizer",
    "mask_index_at_step",
    "evaluate_log_likelihood",
    "train_made",
    "load_trained_made",
    "fingerprint",
    "summarize",
    "made_run_files",
    "made_resume_file",
    "same_training_data",
]

CHECKPOINT_NAME = "checkpoint.pt"
BEST_NAME = "best.pt"
RESULTS_NAME = "results.json"
LOG_NAME = Path("logs") / "training.log"
# MadeTrainConfig fields that build the model (its constructor config); the others train it.
MODEL_FIELDS = (
    "hidden_features",
    "num_masks",
    "order",
    "hidden_degrees",
    "activation",
    "direct_input",
    "seed",
)
# With ``fresh_masks`` the model draws mask k from seed + k for any k below this, so every update
# can use a new order and connectivity without a cycle (numpy seeds must stay below 2**32).
FRESH_MASK_COUNT = 2**31
OPTIMIZERS = ("adam", "adadelta", "adagrad")
EVALUATION_NAMES = re.compile(r"evaluate-(test|val|train)-s\d+\.json")
SAMPLE_NAMES = re.compile(r"samples-s\d+-seed-?\d+\.npy")


def made_run_files(out: str | Path) -> tuple[list[Path], dict]:
    """The files that mark a binary-MADE run in ``out``, and the names of those the commands write.

    The run folder has the layout of every family (``checkpoints/{best,latest}.pth``,
    ``logs/training.log``, ``results.json``); the names of the older layout (``checkpoint.pt``,
    ``best.pt``, ``train.log``) still mark a run and are still removed by ``--overwrite``.

    Example:
        >>> artefacts, own = made_run_files("runs/made")
        >>> [p.name for p in artefacts[:4]], bool(own[Path("runs/made")][4].fullmatch("evaluate-test-s4.json"))
        (['latest.pth', 'best.pth', 'results.json', 'checkpoint.pt'], True)
    """
    out = Path(out)
    evaluations = sorted(p for p in out.glob("evaluate-*.json") if EVALUATION_NAMES.fullmatch(p.name))
    checkpoints = out / "checkpoints"
    artefacts = [checkpoints / "latest.pth", checkpoints / "best.pth", out / RESULTS_NAME]
    artefacts += [out / CHECKPOINT_NAME, out / BEST_NAME, *evaluations]
    own = {
        out: [
            RESULTS_NAME,
            "results.txt",
            CHECKPOINT_NAME,
            BEST_NAME,
            EVALUATION_NAMES,
            SAMPLE_NAMES,
            "train.log",
        ],
        checkpoints: ["latest.pth", "best.pth"],
        out / "samples": [SAMPLE_NAMES],
        out / "logs": ["training.log"],
    }
    return artefacts, own


def made_resume_file(out: str | Path) -> Path:
    """The checkpoint ``--resume`` continues: ``checkpoints/latest.pth``, or an older run's ``checkpoint.pt``."""
    out = Path(out)
    latest = out / "checkpoints" / "latest.pth"
    return out / CHECKPOINT_NAME if not latest.is_file() and (out / CHECKPOINT_NAME).is_file() else latest


@dataclass
class MadeTrainConfig:
    """Everything that defines a binary-MADE run (saved in its checkpoints).

    Arguments:
        hidden_features: Units of each hidden layer (karpathy/pytorch-made's ``-q 500`` is ``[500]``).
        num_masks: N seeded order-and-connectivity draws cycled during training.
        resample_every: R: move to the next mask every R optimiser steps.
        ensemble_masks: S: the test score is the mixture of masks ``0..S-1``.
        val_ensemble_masks: Masks averaged for early stopping (default: ``ensemble_masks``);
            fewer makes each validation cheaper.
        order, hidden_degrees, activation, direct_input: See :class:`BernoulliMADE`.
        epochs, patience: Maximum epochs; stop after ``patience`` validations without improvement.
        lr, weight_decay, lr_schedule: The optimiser's step size, its L2 coefficient, and ``"constant"``
            or ``"cosine"`` (annealed to 0 over ``epochs``).
        batch_size, eval_batch_size: Minibatch sizes for training and scoring.
        seed: Seed of the weights, the masks and the data order.
        fresh_masks: Draw a new order and connectivity for every mask change instead of
            cycling ``num_masks`` draws (the MADE authors' ``shuffle_mask = -1`` with
            ``-r 1``: a fresh mask for every update); the val/test mixtures then use draws
            ``0..S-1`` and ``num_masks`` is ignored.
        optimizer: ``"adam"`` (default), ``"adadelta"`` (the MADE authors' DNA run: decay
            ``rho`` 0.95, ``eps`` 1e-5, no step size, i.e. ``lr`` 1) or ``"adagrad"`` (their
            binarised-MNIST run, lr 0.01).
        rho, eps: AdaDelta's decay and every optimiser's epsilon (``None``: torch's default).
        tf32: ``--tf32``: TensorFloat-32 matrix products while training on a CUDA GPU (off: exact
            float32); a setting of the machine, so ``--resume`` may change it.

    Example:
        >>> MadeTrainConfig(num_masks=4, ensemble_masks=4).validated().ensemble_masks
        4
    """

    hidden_features: list[int] = field(default_factory=lambda: [500])
    num_masks: int = 1
    resample_every: int = 20
    ensemble_masks: int = 1
    val_ensemble_masks: int | None = None
    order: str = "random"
    hidden_degrees: str = "random"
    activation: str = "relu"
    direct_input: bool = False
    epochs: int = 100
    patience: int = 30
    lr: float = 1e-3
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    batch_size: int = 100
    eval_batch_size: int = 1000
    seed: int = 0
    fresh_masks: bool = False
    optimizer: str = "adam"
    rho: float = 0.95
    eps: float | None = None
    tf32: bool = False

    @property
    def mask_draws(self) -> int:
        """How many distinct masks the model can use: ``num_masks``, or unbounded with ``fresh_masks``."""
        return FRESH_MASK_COUNT if self.fresh_masks else self.num_masks

    def validated(self) -> MadeTrainConfig:
        positive = ("num_masks", "resample_every", "ensemble_masks", "epochs", "patience", "batch_size")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not self.hidden_features or min(self.hidden_features) < 1:
            raise ConfigError(f"hidden layer sizes must be >= 1, got {self.hidden_features}")
        if self.val_ensemble_masks is None:
            self.val_ensemble_masks = self.ensemble_masks
        for name in ("ensemble_masks", "val_ensemble_masks"):
            if not 1 <= int(getattr(self, name)) <= self.mask_draws:
                raise ConfigError(
                    f"cannot average {getattr(self, name)} masks when training with {self.num_masks}: "
                    "use 1 <= --samples, --val-samples <= --num-masks (or train with --fresh-masks)"
                )
        if self.lr <= 0 or self.weight_decay < 0:
            raise ConfigError(f"need lr > 0 and weight_decay >= 0, got {self.lr} and {self.weight_decay}")
        if self.lr_schedule not in ("constant", "cosine"):
            raise ConfigError(f"unknown lr schedule {self.lr_schedule!r}: use constant or cosine")
        if self.mask_draws > 1 and self.order != "random":
            raise ConfigError("several masks need --order random (else every mask has the same order)")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}: use one of {', '.join(OPTIMIZERS)}")
        if not 0 <= self.rho < 1 or (self.eps is not None and not self.eps > 0):
            raise ConfigError(f"need 0 <= rho < 1 and eps > 0, got {self.rho} and {self.eps}")
        return self


def build_bernoulli_made(features: int, config: MadeTrainConfig) -> BernoulliMADE:
    """The model a config describes; weights are drawn from ``config.seed``."""
    torch.manual_seed(config.seed)
    try:
        options = {name: getattr(config, name) for name in MODEL_FIELDS}
        options["num_masks"] = config.mask_draws
        return BernoulliMADE(features, **{**options, "hidden_features": list(config.hidden_features)})
    except ValueError as error:
        raise ConfigError(str(error)) from None


def mask_index_at_step(step: int, num_masks: int, resample_every: int) -> int:
    """The mask used at optimiser step ``step`` (0-based): a pure function, so resuming is exact.

    Example:
        >>> [mask_index_at_step(s, 3, 2) for s in range(8)]
        [0, 0, 1, 1, 2, 2, 0, 0]
    """
    return (step // resample_every) % num_masks


def build_optimizer(parameters, config: MadeTrainConfig) -> torch.optim.Optimizer:
    """The optimiser a config names, on ``parameters``.

    The MADE authors' AdaDelta (mgermain/MADE ``update_rules.py``) is torch's with ``lr`` 1:
    their ``learning_rate`` argument is AdaDelta's epsilon and their ``decrease_constant`` its
    decay. Their AdaGrad adds epsilon inside the square root, torch's outside it.

    Example:
        >>> build_optimizer([torch.zeros(1, requires_grad=True)], MadeTrainConfig(optimizer="adadelta", lr=1.0))
        Adadelta (...
    """
    eps = {} if config.eps is None else {"eps": config.eps}
    decay = config.weight_decay
    if config.optimizer == "adadelta":
        return torch.optim.Adadelta(parameters, lr=config.lr, rho=config.rho, weight_decay=decay, **eps)
    if config.optimizer == "adagrad":
        return torch.optim.Adagrad(parameters, lr=config.lr, weight_decay=decay, **eps)
    return torch.optim.Adam(parameters, lr=config.lr, weight_decay=decay, **eps)


def fingerprint(array: np.ndarray) -> dict:
    """Shape and SHA-256 of a data split, to refuse scoring a checkpoint on other data."""
    array = np.ascontiguousarray(array, dtype=np.float32)
    return {"shape": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def check_binary(name: str, array: np.ndarray, features: int | None = None) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 2 or len(array) == 0:
        raise DataError(f"{name} split must be a non-empty (N, D) array, got shape {array.shape}")
    if features is not None and array.shape[1] != features:
        raise DataError(f"{name} split has {array.shape[1]} features, the model has {features}")
    if not np.isin(array, (0, 1)).all():
        raise DataError(f"{name} split is not binary: a Bernoulli MADE needs 0/1 values")
    return array.astype(np.float32, copy=False)


@torch.no_grad()
def evaluate_log_likelihood(
    model: BernoulliMADE, data, num_masks_to_average: int = 1, batch_size: int = 1000
) -> np.ndarray:
    """Per-example log-likelihood (nats, float64) of the mixture of masks ``0..S-1``."""
    was_training = model.training
    model.eval()
    data = torch.as_tensor(np.asarray(data, dtype=np.float32))
    device = next(model.parameters()).device
    try:
        parts = [
            model.log_prob_ensemble(batch.to(device), num_masks_to_average).cpu()
            for batch in data.split(batch_size)
        ]
    finally:
        model.train(was_training)
    return torch.cat(parts).double().numpy()


def _learning_rate(config: MadeTrainConfig, epoch: int) -> float:
    if config.lr_schedule == "cosine":
        return 0.5 * config.lr * (1 + math.cos(math.pi * epoch / config.epochs))
    return config.lr


def train_made(
    train,
    val,
    config: MadeTrainConfig,
    out_dir: str | Path,
    extra: dict | None = None,
    log: Callable[[str], None] = print,
    resume: bool = False,
    device: torch.device | str = "cpu",
    progress: bool | None = None,
    logger: TrainingLogger | None = None,
) -> tuple[BernoulliMADE, dict]:
    """Trains a Bernoulli MADE with Adam and early stopping on the validation mixture NLL.

    The loop is the generic :class:`~maflow.train.loop.Trainer`, with the mask schedule and the
    learning-rate schedule as its hooks. It writes ``checkpoints/latest.pth`` (resumable:
    weights, optimiser, step, data order, RNG states) after each epoch and
    ``checkpoints/best.pth`` (best validation weights) under ``out_dir``, in the checkpoint
    schema of every family (``family`` ``"made"``, the config as ``model_config``). ``extra``
    (e.g. ``{"dataset": ...}``) names the data set. The model and the training data live on
    ``device``; ``progress`` is the bar's switch (``None``: on a terminal); lines go to
    ``logger`` (a :class:`TrainingLogger`) or, without one, to ``log`` and
    ``logs/training.log``. A run of the older layout (``checkpoint.pt``) is continued from it.
    Returns the model with the best weights, and the run summary.
    """
    config = config.validated()
    train = check_binary("train", train)
    val = check_binary("validation", val, train.shape[1])
    out_dir = ensure_writable_dir(out_dir)
    for folder, names in made_run_files(out_dir)[1].items():
        remove_own_temporaries(folder, names)  # left by a killed run
    own_logger = logger is None
    if own_logger:
        logger = _LogTo(log, TrainingLogger(out_dir / LOG_NAME, out_dir / "tensorboard", echo=False))
    try:
        run = _MadeRun(train, val, config, out_dir, dict(extra or {}), logger, torch.device(device), progress)
        if resume:
            run.restore()
        summary = run.trainer.fit(run.x_train)
    finally:
        if own_logger:
            logger.close()
    return run.finish(summary)


class _LogTo:
    """A :class:`TrainingLogger` whose lines also go to ``log`` (a callable)."""

    def __init__(self, log, logger: TrainingLogger):
        self.log, self.logger = log, logger

    def info(self, message: str, echo: bool | None = None) -> None:
        self.logger.info(message, echo=False)
        if echo is not False and self.log is not None:
            self.log(message)

    def scalars(self, values: dict, step: int) -> None:
        self.logger.scalars(values, step)

    def close(self) -> None:
        self.logger.close()


class _MadeRun:
    """One binary-MADE run: its model, optimiser, hooks and checkpoints in the generic Trainer."""

    def __init__(
        self, train, val, config: MadeTrainConfig, out_dir: Path, extra: dict, logger, device, progress
    ):
        from maflow.run.checkpoint import data_fingerprint

        self.config, self.out_dir, self.logger = config, out_dir, logger
        self.model = build_bernoulli_made(train.shape[1], config).to(device)
        self.optimizer = build_optimizer(self.model.parameters(), config)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.dataset = extra.get("dataset")
        settings = dataclasses.asdict(config)
        self.model_config = {"features": train.shape[1], **{k: settings[k] for k in MODEL_FIELDS}}
        self.fingerprint = data_fingerprint(train)
        self.training_config = {**dataclasses.asdict(config), **extra}
        self.x_train = torch.from_numpy(train).to(device)
        checkpoints = out_dir / "checkpoints"

        def validate(model):
            nll = -float(
                evaluate_log_likelihood(model, val, config.val_ensemble_masks, config.eval_batch_size).mean()
            )
            return nll, {"val_nll": nll, "lr": self.optimizer.param_groups[0]["lr"]}

        self.trainer = Trainer(
            self.model,
            self.optimizer,
            lambda model, batch: -model.log_prob(batch).mean(),
            validate,
            self.checkpoint,
            checkpoints,
            logger,
            epochs=config.epochs,
            batch_size=config.batch_size,
            patience=config.patience,
            generator=self.generator,
            progress=progress,
            before_epoch=self._set_learning_rate,
            before_step=self._set_mask,
            tf32=config.tf32,
        )

    def _set_learning_rate(self, epochs_done: int) -> None:
        for group in self.optimizer.param_groups:
            group["lr"] = _learning_rate(self.config, epochs_done)

    def _set_mask(self, step: int) -> None:
        if self.config.mask_draws > 1:
            self.model.set_mask_index(
                mask_index_at_step(step, self.config.mask_draws, self.config.resample_every)
            )

    def checkpoint(self, **progress) -> dict:
        from maflow.run.checkpoint import make_checkpoint

        return make_checkpoint(
            self.model,
            "bernoulli-made",
            self.model_config,
            self.dataset,
            self.fingerprint,
            self.optimizer,
            generator=self.generator,
            training_config=self.training_config,
            family="made",
            **progress,
        )

    def restore(self) -> None:
        from maflow.run.checkpoint import load_training_checkpoint

        trainer = self.trainer
        if not trainer.latest_path.is_file() and (self.out_dir / CHECKPOINT_NAME).is_file():
            path = self.out_dir / CHECKPOINT_NAME
            latest, best = _from_older_layout(self.out_dir)
        elif trainer.latest_path.is_file():
            path = trainer.latest_path
            latest = load_training_checkpoint(path, fingerprint=self.fingerprint)
            best = load_training_checkpoint(trainer.best_path) if trainer.best_path.is_file() else None
        else:
            return
        stored = {**latest["training_config"], **latest["model_config"]}
        current = {**self.training_config, **self.model_config}
        free = (
            ("epochs", "patience", "dataset", "limit_train", "tf32")
            if self.config.lr_schedule == "constant"
            else ("patience", "dataset", "limit_train", "tf32")
        )
        for key in sorted(set(stored) | set(current)):
            if key not in free and stored.get(key) != current.get(key):
                raise CheckpointError(
                    f"{path} was written with other options ({key}={stored.get(key)!r}, now "
                    f"{current.get(key)!r}); leave the flag out to continue the run as it was, or use another --out"
                )
        older = latest.get("train_fingerprint")  # the older layout's hash of the whole split
        if older is not None and older != fingerprint(self.x_train.cpu().numpy()):
            latest["data_fingerprint"] = {}
        if latest.get("data_fingerprint") is not None and not same_data(
            latest["data_fingerprint"], self.fingerprint
        ):
            raise CheckpointError(
                "this run was trained on other data (the training split or --limit-train changed); "
                "resume with the same data, or use another --out"
            )
        trainer.restore(latest, best)
        self.logger.info(f"resumed from epoch {trainer.epoch} (step {trainer.step})")

    def finish(self, summary: dict) -> tuple[BernoulliMADE, dict]:
        self.model.set_mask_index(0)
        history = [
            {
                "epoch": h["epoch"],
                "train_nll": h["train_loss"],
                "val_nll": h["val_loss"],
                "lr": h.get("lr"),
                "seconds": h.get("seconds"),
            }
            for h in self.trainer.history
        ]
        return self.model, {
            "epochs_run": summary["epoch"],
            "best_epoch": summary["best_epoch"],
            "best_val_nll": summary["best_value"],
            "stopped_by": "early stopping" if summary["stopped_early"] else "epoch limit",
            "train_seconds": summary["elapsed_seconds"],
            "history": history,
        }


def _from_older_layout(out_dir: Path) -> tuple[dict, dict | None]:
    """``checkpoint.pt`` and ``best.pt`` of a run written before the shared layout, as the Trainer's."""
    from maflow.run.checkpoint import get_rng_states

    old = load_checkpoint(out_dir / CHECKPOINT_NAME)
    state = old["state"]
    position = old.get("interrupted", {})
    rng = get_rng_states()
    rng["data_order"] = old["generator"]
    latest = {
        "model_state": old["model"],
        "optimizer_state": old["optimizer"],
        "rng_states": rng,
        "model_config": {"features": old["features"]},
        "training_config": dict(old["config"]),
        "data_fingerprint": None,
        "train_fingerprint": old.get("train_fingerprint"),
        "progress": {
            "epoch": state["epoch"],
            "step": state["step"],
            "batch_in_epoch": position.get("batch_in_epoch", 0),
            "epoch_loss_sum": position.get("loss_sum", 0.0),
            "epoch_examples": position.get("count", 0),
            "best_value": state["best_val_nll"],
            "best_epoch": state["best_epoch"],
            "patience_counter": state["bad_epochs"],
            "stopped_early": False,
            "elapsed_seconds": old.get("elapsed_seconds", 0.0),
            "history": [
                {"epoch": h["epoch"], "train_loss": h["train_nll"], "val_loss": h["val_nll"], **h}
                for h in old.get("history", [])
            ],
        },
    }
    return latest, {"model_state": old["best_model"]}


def load_trained_made(path: str | Path) -> tuple[BernoulliMADE, dict]:
    """Rebuilds a model from ``checkpoints/best.pth`` (or the older ``best.pt``), or from a run
    folder holding either; returns it and the checkpoint (with ``config``, ``features``,
    ``dataset`` and ``train_fingerprint`` or ``data_fingerprint``).
    """
    path = Path(path)
    if path.is_dir():
        path = (
            path / "checkpoints" / "best.pth"
            if (path / "checkpoints" / "best.pth").is_file()
            else path / BEST_NAME
        )
    checkpoint = load_checkpoint(path)
    if checkpoint.get("family") == "made" and "model_state" in checkpoint:  # the shared schema
        config = {**checkpoint.get("training_config", {}), **checkpoint["model_config"]}
        checkpoint = {
            **checkpoint,
            "features": config.pop("features"),
            "config": config,
            "model": checkpoint["model_state"],
            "dataset": checkpoint.get("dataset"),
        }
    if "config" not in checkpoint or "model" not in checkpoint:
        raise CheckpointError(f"{path} is not a binary-MADE checkpoint (train with `maflow made train`)")
    known = {f.name for f in dataclasses.fields(MadeTrainConfig)}
    config = MadeTrainConfig(**{k: v for k, v in checkpoint["config"].items() if k in known})
    model = build_bernoulli_made(int(checkpoint["features"]), config)
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match its own config: {str(error)[:200]}") from None
    model.set_mask_index(0)
    model.eval()
    return model, checkpoint


def same_training_data(checkpoint: dict, train: np.ndarray) -> bool:
    """Whether ``train`` (the whole split) holds the rows this checkpoint was trained on."""
    from maflow.run.checkpoint import data_fingerprint

    if "data_fingerprint" in checkpoint:  # the shared schema, --limit-train counted
        limit = checkpoint.get("training_config", {}).get("limit_train")
        return same_data(checkpoint["data_fingerprint"], data_fingerprint(train[:limit] if limit else train))
    return fingerprint(train) == checkpoint.get("train_fingerprint")


def summarize(log_likelihoods: np.ndarray) -> dict:
    """Mean NLL in nats with 2 standard errors (maflow's convention, the MAF paper's), and 1 SE.

    The MADE authors' code reports 1 standard error (mgermain/MADE ``trainMADE.py``:
    ``losses.std() / sqrt(N)``); ``nll_1se`` is that number, for comparing with their tables.

    Example:
        >>> summary = summarize(np.array([-1.0, -3.0]))
        >>> summary["nll"], round(summary["nll_2se"], 4), round(summary["nll_1se"], 4), summary["count"]
        (2.0, 1.4142, 0.7071, 2)
    """
    mean, error = mean_and_error(-np.asarray(log_likelihoods, dtype=np.float64))
    return {"nll": mean, "nll_2se": error, "nll_1se": error / 2, "count": int(np.size(log_likelihoods))}
