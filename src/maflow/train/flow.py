"""Maximum-likelihood training of a flow on a data set, as the MAF authors' code does it."""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch

import maflow
from maflow.errors import ConfigError
from maflow.run.checkpoint import data_fingerprint, load_training_checkpoint, make_checkpoint
from maflow.run.command import command_line
from maflow.run.device import place_training_data, resolve_device, set_threads
from maflow.run.folder import RESUME_AND_OVERWRITE, RunLock, prepare_run_folder
from maflow.run.locate import locate_run
from maflow.run.paths import RunPaths
from maflow.train.compile import COMPILE_BACKEND
from maflow.train.distributed import (
    barrier,
    data_parallel_loss,
    init_from_env,
    is_main_process,
)
from maflow.train.flow_validation import context_flow_loss, flow_validator
from maflow.train.guard import NonFiniteGuard
from maflow.train.logger import TrainingLogger
from maflow.train.loop import SYNC_EVERY, Trainer
from maflow.utils.io import ensure_writable_dir

__all__ = [
    "FlowTrainingConfig",
    "flow_config_from_args",
    "resumed_config",
    "flow_trainer",
    "training_rows",
    "flow_loss",
    "context_flow_loss",
    "make_optimizer",
    "train_flow",
    "prepare_flow_folder",
    "run_lock",
    "git_commit",
]


@dataclass
class FlowTrainingConfig:
    """Settings of one training run (presets fill them, command-line flags override them).

    The defaults are the MAF code's (Adam, batch 100, lr 1e-4, weight decay 1e-6, patience
    30, batch-norm statistics of the whole training set at validation) plus the MAF-v1.0 specification's
    gradient clipping at 5.

    References:
        | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
        | https://arxiv.org/abs/1705.07057

    Arguments:
        dataset, model: Names for :func:`maflow.data.load` and the model registry.
        model_options: Keyword arguments of the model builder.
        epochs, batch_size, lr, patience: As usual; epochs counts resumed epochs too.
        weight_decay: L2 coefficient; ``weight_decay_mode="l2"`` is Adam's coupled decay, the
            same gradient as the MAF code's (wd/2)·Σw² loss term; ``"decoupled"`` is AdamW.
        grad_clip: Maximum gradient norm (0 or ``None``: off).
        seed: Seeds initialisation, masks' random draws and the data order.
        bn_stats: ``"dataset"``: recompute batch-norm statistics on the whole training set before
            each validation (MAF code); ``"running"``: use running averages.
        threads: torch intra-op threads (``None``: torch's default, or 1 on a machine already
            busy; see :func:`maflow.run.device.default_threads`).
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; the
            model and the data move there.
        limit_train: Train on the first N training examples only (smoke runs; the data
            fingerprint covers exactly what is trained on).
        num_samples: Samples drawn for the picture at the end.
        progress: Progress bar (``None``: only on a terminal).
        nan_policy, nan_lr_factor, max_rollbacks: On NaN or Inf, roll back to the epoch's start
            with the learning rate times ``nan_lr_factor`` (at most ``max_rollbacks`` times), or
            stop (see :class:`maflow.train.guard.NonFiniteGuard`).
        tf32: ``--tf32``: TensorFloat-32 matrix products while training on a CUDA GPU (off:
            float32 exact; no effect on the CPU).
        compile, compile_backend: ``--compile``: the training loss through ``torch.compile``
            with this backend (``"inductor"``; ``"aot_eager"`` needs no C compiler).
        sync_every: Steps between the trainer's read-backs from the device (its NaN checks; see
            :class:`maflow.train.loop.Trainer`).

    tf32, compile, compile_backend and sync_every change the speed, not the run: a resumed run
    takes today's values.
    """

    dataset: str
    model: str = "maf"
    model_options: dict = field(default_factory=dict)
    epochs: int = 1000
    batch_size: int = 100
    lr: float = 1e-4
    weight_decay: float = 1e-6
    weight_decay_mode: str = "l2"
    grad_clip: float | None = 5.0
    patience: int = 30
    seed: int = 0
    bn_stats: str = "dataset"
    threads: int | None = None
    device: str = "auto"
    limit_train: int | None = None
    num_samples: int = 64
    eval_batch_size: int = 1000
    progress: bool | None = None
    nan_policy: str = "rollback"
    nan_lr_factor: float = 0.5
    max_rollbacks: int = 3
    tf32: bool = False
    compile: bool = False
    compile_backend: str = COMPILE_BACKEND
    sync_every: int = SYNC_EVERY

    def validate(self) -> FlowTrainingConfig:
        checks = [
            (self.lr > 0, f"--lr must be positive, got {self.lr}"),
            (self.batch_size >= 1, f"--batch-size must be at least 1, got {self.batch_size}"),
            (self.epochs >= 0, f"--epochs must be >= 0, got {self.epochs}"),
            (self.patience >= 1, f"--patience must be at least 1, got {self.patience}"),
            (self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}"),
            (
                self.grad_clip is None or self.grad_clip >= 0,
                f"--grad-clip must be >= 0, got {self.grad_clip}",
            ),
            (self.threads is None or self.threads >= 1, f"--threads must be at least 1, got {self.threads}"),
            (
                self.limit_train is None or self.limit_train >= 1,
                f"--limit-train must be at least 1, got {self.limit_train}",
            ),
            (self.num_samples >= 0, f"--num-samples must be >= 0, got {self.num_samples}"),
            (self.sync_every >= 1, f"--set train.sync_every must be at least 1, got {self.sync_every}"),
            (
                isinstance(self.compile_backend, str) and bool(self.compile_backend),
                f"--set train.compile_backend must name a torch.compile backend, got {self.compile_backend!r}",
            ),
            (
                self.bn_stats in ("dataset", "running"),
                f"--bn-stats must be dataset or running, got {self.bn_stats!r}",
            ),
            (
                self.weight_decay_mode in ("l2", "decoupled"),
                f"--weight-decay-mode must be l2 or decoupled, got {self.weight_decay_mode!r}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        self.nan_guard()  # checks the three NaN settings
        for key in ("hidden_features", "num_layers", "num_hidden_layers"):
            value = self.model_options.get(key)
            values = value if isinstance(value, list) else [value]
            if value is not None and any(not isinstance(v, int) or v < 1 for v in values):
                flag = {"hidden_features": "--hidden-features", "num_layers": "--num-layers"}.get(
                    key, "--hidden-layers"
                )
                raise ConfigError(f"{flag} must be a positive integer, got {value!r}")
        return self

    def nan_guard(self) -> NonFiniteGuard:
        return NonFiniteGuard(self.nan_policy, self.nan_lr_factor, self.max_rollbacks)


def flow_config_from_args(
    args, dataset: str, preset: str | None = None, resumed: dict | None = None
) -> FlowTrainingConfig:
    """The resolved configuration of ``maflow train``: the data set's preset, the flags, then ``--set``.

    ``preset`` names the preset when it is not the data set's own (``"default"`` for one's own data).
    ``resumed``: the training configuration stored in the checkpoint of the run that ``--resume``
    continues (:func:`resumed_config`); it takes the preset's place, so a resumed run keeps its
    own model and settings, and only a flag given again is compared with them.
    """
    from maflow.configs import load_preset
    from maflow.train.flags import TRAIN_FLAGS, apply_settings, model_options_from_args, pick

    if resumed is not None:
        train = {k: v for k, v in resumed.items() if k in _FIELDS and k not in _MACHINE_SETTINGS}
        options = train.pop("model_options", {})
        train.pop("dataset", None)
        if args.model is not None:  # a different --model is refused by name when the run resumes
            train["model"] = args.model
    else:
        train, options, _ = load_preset(preset or dataset, args.model)
    for flag in TRAIN_FLAGS:
        value = getattr(args, flag, None)
        if value is not None:
            train[flag] = value
    given = pick(args, "weight_decay_mode", "seed", "bn_stats", "device", "limit_train", "num_samples")
    given |= pick(args, "nan_policy", "nan_lr_factor", "max_rollbacks")
    train.update({key: value for key, value in given.items() if value is not None})
    config = FlowTrainingConfig(
        dataset=dataset,
        model=train.pop("model"),
        model_options=model_options_from_args(args, options),
        progress=False if (args.no_progress or args.quiet) else None,
        **train,
    )
    if args.threads is not None:
        config.threads = args.threads
    config.tf32 = config.tf32 or bool(getattr(args, "tf32", False))
    config.compile = config.compile or bool(getattr(args, "compile", False))
    if args.settings:
        values = asdict(config)
        sections = {"model": values.pop("model_options"), "train": values}
        apply_settings(sections, args.settings, open_sections=("model",))
        try:
            config = FlowTrainingConfig(**sections["train"], model_options=sections["model"])
        except TypeError as error:
            raise ConfigError(f"--set: {error}") from None
    return config.validate()


_FIELDS = {f.name for f in fields(FlowTrainingConfig)}
# Settings of the machine a run happens to be on, not of the run: a resumed run takes today's.
_MACHINE_SETTINGS = ("threads", "device", "progress", "tf32", "compile", "compile_backend", "sync_every")


def resumed_config(out: str | Path, dataset: str | None = None) -> dict | None:
    """The training configuration stored in the latest checkpoint of the run in ``out`` (None: no run).

    Only the configuration is read here; :func:`train_flow` checks the whole checkpoint when it
    resumes.

    Example:
        >>> resumed_config("/no/such/run") is None
        True
    """
    from maflow.utils.io import load_checkpoint

    latest = locate_run(out, dataset, quiet=True).latest
    if not latest.is_file():
        return None
    stored = load_checkpoint(latest).get("training_config")
    return stored if isinstance(stored, dict) else None


def flow_loss(model, batch: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood of a minibatch (nats per example)."""
    return -model.log_prob(batch).mean()


def make_optimizer(model: torch.nn.Module, config: FlowTrainingConfig) -> torch.optim.Optimizer:
    """Adam with the MAF code's coupled L2 (``l2``) or AdamW's decoupled decay."""
    optimizer = torch.optim.AdamW if config.weight_decay_mode == "decoupled" else torch.optim.Adam
    parameters = list(model.parameters())
    try:  # one fused kernel for all parameters: a large share of a small model's step
        return optimizer(parameters, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    except RuntimeError:  # torch < 2.4 has no fused Adam on CPU
        return optimizer(parameters, lr=config.lr, weight_decay=config.weight_decay)


def git_commit() -> str | None:
    """The commit of the maflow source tree, when it is a git checkout (for results files)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(maflow.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
            cwd=Path(maflow.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


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


def _check_same_trajectory(stored: dict, current: dict, path) -> None:
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


def run_lock(root: Path):
    """The run folder's lock (rank 0 only: under torchrun the other ranks never write)."""
    return RunLock(root, command_line()) if is_main_process() else contextlib.nullcontext()


def prepare_flow_folder(paths: RunPaths, resume: bool, overwrite: bool) -> None:
    """Checks what the folder holds and clears what must go; call with the folder locked.

    Any checkpoint or results file means the folder holds a run: it is refused without
    ``--resume`` or ``--overwrite``, and ``--resume`` needs its ``latest.pth``. Only the files
    this command writes, by their exact names, are removed (stale temporaries; with
    ``--overwrite``, the previous run's checkpoints, results, samples and figures).
    """
    prepare_run_folder(paths.root, paths.artefacts, paths.own_files(), resume, overwrite, paths.latest)


def train_flow(
    config: FlowTrainingConfig,
    out: str | Path,
    data_dir: str | Path | None = None,
    resume: bool = False,
    overwrite: bool = False,
    echo: bool = True,
    dataset=None,
) -> dict:
    """Trains ``config.model`` on ``config.dataset``, writing the whole run into the folder ``out``.

    The run folder ``out`` (``checkpoints/``, ``logs/``, ``results.json``, ...) is locked for the
    whole run: a second writer is refused. With ``resume``, a run of the old layout in
    ``out/<dataset>/`` is found and continued in place (:func:`maflow.run.locate.locate_run`).
    ``dataset``: a :class:`maflow.data.Dataset` to train on instead of the registered data set
    (one's own arrays: :func:`maflow.data.from_numpy`; a conditional one trains log p(x | c)).
    Returns the ``training`` section of ``results.json``.

    Example:
        >>> import tempfile
        >>> from maflow.data import from_numpy
        >>> data = from_numpy(np.random.default_rng(0).normal(size=(300, 2)), name="mine")
        >>> config = FlowTrainingConfig("mine", epochs=1, progress=False, num_samples=0, device="cpu",
        ...                             model_options={"num_layers": 1, "hidden_features": 8})
        >>> with tempfile.TemporaryDirectory() as out:
        ...     summary = train_flow(config, out, dataset=data, echo=False)
        >>> summary["epochs_run"], summary["space"]
        (1, 'data space nats')
    """
    from maflow.data import load

    config.validate()
    if resume and overwrite:
        raise ConfigError(RESUME_AND_OVERWRITE)
    device = resolve_device(config.device)  # an absent GPU is one line, before any work
    distributed = init_from_env()  # torchrun: data-parallel, only rank 0 writes
    if distributed and config.compile:
        raise ConfigError("--compile is not supported under torchrun yet: run without --compile")
    if distributed and device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    set_threads(config.threads)
    if dataset is None:
        dataset = load(config.dataset, data_dir)
    elif dataset.name != config.dataset:
        raise ConfigError(f"the configuration names data set {config.dataset!r}, the arrays {dataset.name!r}")
    model = _check_model_options(
        config, dataset
    )  # a bad --model-option fails before --overwrite deletes anything
    placement = _place_training_rows(config, dataset, device, model)  # so does data too large for --bn-stats
    paths = (
        locate_run(out, config.dataset, quiet=not is_main_process())
        if resume
        else RunPaths(out, config.dataset)
    )
    ensure_writable_dir(paths.root)
    with run_lock(paths.root):
        if is_main_process():
            prepare_flow_folder(paths, resume, overwrite)
        barrier()
        return _train_in_folder(config, dataset, paths, resume, distributed, echo, device, placement)


def training_rows(config, rows):
    """The training examples a run uses: all of them, or the first ``config.limit_train``."""
    return rows[: config.limit_train] if config.limit_train else rows


def _train_in_folder(
    config, dataset, paths: RunPaths, resume: bool, distributed: bool, echo: bool, device, placement
) -> dict:
    from maflow.run.data_samples import save_data_samples
    from maflow.run.results import update_results
    from maflow.run.samples import save_samples

    _seed_everything(config.seed)
    train = placement.data
    val = torch.from_numpy(_with_context(dataset.val, dataset, "val")).to(device)
    model, trainer_parts = _build(config, dataset, device)
    trainer_parts["batch_device"] = placement.batch_device
    start = time.perf_counter()
    commit = git_commit()  # the code this run starts with, not whatever is checked out when it ends
    main = is_main_process()
    with TrainingLogger(
        paths.log_file if main else os.devnull, paths.tensorboard if main else None, echo=echo and main
    ) as logger:
        trainer = _trainer(config, model, trainer_parts, train, val, paths, logger, distributed, dataset)
        if resume:
            _resume(trainer, config, trainer_parts, paths, logger)
        logger.info(_describe(config, dataset, model, len(train), len(val)))
        if placement.message:
            logger.info(placement.message)
        summary = trainer.fit(train)
        best_loss, extras = flow_validator(model, train, val, config, *_validation_columns(dataset))(model)
        logger.info(
            f"best model: epoch {summary['best_epoch']}, validation log-likelihood "
            f"{extras['val_ll']:.3f} ± {extras.get('val_ll_2se', float('nan')):.3f} (2 SE)"
        )
        samples_file = None
        if config.num_samples and summary["best_epoch"] and main and dataset.kind == "arrays":
            samples_file = save_data_samples(model, dataset, paths, config.num_samples, seed=config.seed)
        elif config.num_samples and summary["best_epoch"] and main:
            samples_file = save_samples(model, dataset, paths, config.num_samples, seed=config.seed)
            logger.info(f"samples: {samples_file}")
    training = {
        "dataset": config.dataset,
        "model": config.model,
        "model_config": trainer_parts["model_config"],
        "parameters": sum(p.numel() for p in model.parameters()),
        "config": trainer_parts["training_config"],
        "epochs_run": summary["epoch"],
        "steps": summary["step"],
        "best_epoch": summary["best_epoch"],
        "stopped_early": summary["stopped_early"],
        "val_log_likelihood": extras.get("val_ll"),
        "val_log_likelihood_2se": extras.get("val_ll_2se"),
        "space": "data space nats" if dataset.kind == "arrays" else "model space nats",
        "train_seconds_total": summary["elapsed_seconds"],
        "wall_seconds_this_invocation": time.perf_counter() - start,
        "checkpoint": str(paths.best),
        "samples": str(samples_file) if samples_file else None,
        "maflow_version": maflow.__version__,
        "git_commit": commit,
        "command": " ".join(sys.argv),
    }
    if main:
        update_results(paths.results_json, paths.results_txt, "training", training)
    return training


def _with_context(rows: np.ndarray, dataset, split: str, config=None) -> np.ndarray:
    """The rows, followed by their context columns when the data set has a context."""
    if dataset.context is None:
        return rows
    context = dataset.context.split(split)
    context = training_rows(config, context) if config is not None else context
    return np.concatenate([rows, context], axis=1)


def _validation_columns(dataset) -> tuple[int | None, float]:
    """The ``features`` and ``log_abs_det`` arguments of :func:`flow_validator` for ``dataset``."""
    return (dataset.features if dataset.context is not None else None), dataset.log_abs_det


def _place_training_rows(config: FlowTrainingConfig, dataset, device, model):
    """The training rows on ``device`` once, or in pinned CPU memory when too large for it
    (:func:`~maflow.run.device.place_training_data`); refused then under ``--bn-stats dataset``
    with batch norm, whose statistics are recomputed with the whole training set on the device."""
    from maflow.transforms.batchnorm import BatchNorm

    rows = torch.from_numpy(_with_context(training_rows(config, dataset.train), dataset, "train", config))
    placement = place_training_data(rows, device)
    if placement.batch_device is not None and config.bn_stats == "dataset":
        if any(isinstance(module, BatchNorm) for module in model.modules()):
            raise ConfigError(
                f"the training data ({rows.numel() * rows.element_size() / 2**30:.2f} GiB) do not fit "
                f"comfortably in the free memory of {device}, where --bn-stats dataset recomputes the "
                "batch-norm statistics with all of them: use --bn-stats running, or free GPU memory"
            )
    return placement


def _check_model_options(config: FlowTrainingConfig, dataset) -> torch.nn.Module:
    """Builds the model once, as a check of its options; the run reseeds every RNG before its own build."""
    from maflow.models.registry import build_model

    return build_model(config.model, dataset.features, dataset.context_features, **config.model_options)


def _build(config: FlowTrainingConfig, dataset, device=None) -> tuple[torch.nn.Module, dict]:
    """The model (on ``device``), and what the trainer and its checkpoints need besides it."""
    from maflow.models.registry import build_model

    context_features = dataset.context_features
    model = build_model(config.model, dataset.features, context_features, **config.model_options).to(device)
    parts = {
        "model_config": {
            "features": dataset.features,
            "context_features": context_features,
            **config.model_options,
        },
        "fingerprint": data_fingerprint(
            _with_context(training_rows(config, dataset.train), dataset, "train", config)
        ),
        "optimizer": make_optimizer(model, config),
        "generator": torch.Generator().manual_seed(config.seed),
        "training_config": asdict(config),
    }
    if dataset.origin is not None:
        parts["data"] = dataset.origin
    return model, parts


def flow_trainer(
    config, model, parts: dict, loss_fn, validate_fn, paths: RunPaths, logger, **options
) -> Trainer:
    """The generic :class:`Trainer` set up for a flow run (unconditional or conditional).

    ``parts`` holds the run's ``optimizer``, data-order ``generator``, ``model_config``,
    ``fingerprint`` and ``training_config``, and for one's own data its ``data`` record (where
    the rows came from, their splits and standardisation); every checkpoint records them.
    """

    def checkpoint_fn(**progress):
        checkpoint = _checkpoint(**progress)
        if "data" in parts:
            checkpoint["data"] = parts["data"]
        return checkpoint

    def _checkpoint(**progress):
        return make_checkpoint(
            model,
            config.model,
            parts["model_config"],
            config.dataset,
            parts["fingerprint"],
            parts["optimizer"],
            generator=parts["generator"],
            training_config=parts["training_config"],
            **progress,
        )

    return Trainer(
        model,
        parts["optimizer"],
        loss_fn,
        validate_fn,
        checkpoint_fn,
        paths.checkpoints,
        logger,
        epochs=config.epochs,
        batch_size=config.batch_size,
        patience=config.patience,
        grad_clip=config.grad_clip,
        generator=parts["generator"],
        progress=config.progress,
        sync_every=config.sync_every,
        tf32=config.tf32,
        compile_backend=config.compile_backend if config.compile else None,
        batch_device=parts.get("batch_device"),
        **options,
    )


def _trainer(
    config, model, parts: dict, train, val, paths: RunPaths, logger, distributed: bool, dataset
) -> Trainer:
    if dataset.context is not None:
        if distributed:
            raise ConfigError(
                "a conditional run of one's own data trains on one process: run it without torchrun"
            )
        loss_fn = context_flow_loss(dataset.features)
    else:
        loss_fn = data_parallel_loss(model) if distributed else flow_loss
    validate_fn = flow_validator(model, train, val, config, *_validation_columns(dataset))
    return flow_trainer(
        config,
        model,
        parts,
        loss_fn,
        validate_fn,
        paths,
        logger,
        nan_guard=config.nan_guard(),
        handle_signals=not distributed,
    )


def _resume(trainer: Trainer, config, parts: dict, paths: RunPaths, logger) -> None:
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
    _check_same_trajectory(latest.get("training_config", {}), parts["training_config"], paths.latest)
    best = load_training_checkpoint(paths.best, **expected) if paths.best.is_file() else None
    trainer.restore(latest, best)
    resume_learning_rate(trainer, latest.get("training_config", {}), config.lr)
    logger.info(f"resumed from {paths.latest} at epoch {trainer.epoch}, step {trainer.step}")


def _describe(config, dataset, model, num_train: int, num_val: int) -> str:
    parameters = sum(p.numel() for p in model.parameters())
    context = f", context of {dataset.context_features}" if dataset.context is not None else ""
    return (
        f"training {config.model} on {config.dataset} ({num_train} train / {num_val} val, D = "
        f"{dataset.features}{context}), {parameters:,} parameters, options {config.model_options}, "
        f"lr {config.lr}, batch {config.batch_size}, weight decay {config.weight_decay} "
        f"({config.weight_decay_mode}), grad clip {config.grad_clip}, patience {config.patience}, "
        f"bn stats {config.bn_stats}, {torch.get_num_threads()} thread(s), device "
        f"{next(model.parameters()).device}, seed {config.seed}"
    )
