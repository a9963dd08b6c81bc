"""Maximum-likelihood training of a flow on a data set, as the MAF authors' code does it.

:func:`train_flow` reads top to bottom: the configuration (:mod:`~maflow.train.flow_config`), the
data and their placement, the locked run folder, then the run itself: its set-up
(:mod:`~maflow.train.flow_setup`), a resume (:mod:`~maflow.train.flow_resume`), training and the
results.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

import maflow
from maflow.errors import ConfigError
from maflow.run.command import command_line
from maflow.run.commit import git_commit
from maflow.run.device import place_training_data, resolve_device, set_threads
from maflow.run.folder import RESUME_AND_OVERWRITE, RunLock, prepare_run_folder
from maflow.run.locate import locate_run
from maflow.run.paths import RunPaths
from maflow.train.distributed import barrier, init_from_env, is_main_process
from maflow.train.flow_config import FlowTrainingConfig, flow_config_from_args, resumed_config
from maflow.train.flow_resume import resume_flow
from maflow.train.flow_setup import (
    build_flow,
    check_model_options,
    flow_loss,
    flow_trainer,
    make_optimizer,
    run_trainer,
    training_rows,
    validation_columns,
    with_context,
)
from maflow.train.flow_validation import context_flow_loss, flow_validator
from maflow.train.logger import TrainingLogger
from maflow.utils.io import ensure_writable_dir

# The configuration, the set-up and git_commit have modules of their own; they are named here
# too, where the published examples and older scripts import them from.
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
    # A bad --model-option fails before --overwrite deletes anything; so does data too large for --bn-stats.
    model = check_model_options(config, dataset)
    placement = _place_training_rows(config, dataset, device, model)
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


def _train_in_folder(
    config, dataset, paths: RunPaths, resume: bool, distributed: bool, echo: bool, device, placement
) -> dict:
    from maflow.run.data_samples import save_data_samples
    from maflow.run.results import update_results
    from maflow.run.samples import save_samples

    _seed_everything(config.seed)
    train = placement.data
    val = torch.from_numpy(with_context(dataset.val, dataset, "val")).to(device)
    model, trainer_parts = build_flow(config, dataset, device)
    trainer_parts["batch_device"] = placement.batch_device
    start = time.perf_counter()
    commit = git_commit()  # the code this run starts with, not whatever is checked out when it ends
    main = is_main_process()
    with TrainingLogger(
        paths.log_file if main else os.devnull, paths.tensorboard if main else None, echo=echo and main
    ) as logger:
        trainer = run_trainer(config, model, trainer_parts, train, val, paths, logger, distributed, dataset)
        if resume:
            resume_flow(trainer, config, trainer_parts, paths, logger)
        logger.info(_describe(config, dataset, model, len(train), len(val)))
        if placement.message:
            logger.info(placement.message)
        summary = trainer.fit(train)
        best_loss, extras = flow_validator(model, train, val, config, *validation_columns(dataset))(model)
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


def _place_training_rows(config: FlowTrainingConfig, dataset, device, model):
    """The training rows on ``device`` once, or in pinned CPU memory when too large for it
    (:func:`~maflow.run.device.place_training_data`); whole-training-set batch-norm statistics
    then pass the rows through the model chunk by chunk on its device."""
    rows = torch.from_numpy(with_context(training_rows(config, dataset.train), dataset, "train", config))
    return place_training_data(rows, device)


def _seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


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
