"""Setting up a flow's training run: its training rows, model, optimiser, loss and trainer."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch

from maflow.errors import ConfigError
from maflow.run.checkpoint import data_fingerprint, make_checkpoint
from maflow.run.paths import RunPaths
from maflow.train.distributed import data_parallel_loss
from maflow.train.flow_config import FlowTrainingConfig
from maflow.train.flow_validation import context_flow_loss, flow_validator
from maflow.train.loop import Trainer

__all__ = [
    "training_rows",
    "with_context",
    "validation_columns",
    "flow_loss",
    "make_optimizer",
    "check_model_options",
    "build_flow",
    "flow_trainer",
    "run_trainer",
]


def training_rows(config, rows):
    """The training examples a run uses: all of them, or the first ``config.limit_train``.

    Example:
        >>> training_rows(FlowTrainingConfig("mine", limit_train=2), [1, 2, 3])
        [1, 2]
    """
    return rows[: config.limit_train] if config.limit_train else rows


def with_context(rows: np.ndarray, dataset, split: str, config=None) -> np.ndarray:
    """The rows, followed by their context columns when the data set has a context.

    With ``config``, the context rows are cut as :func:`training_rows` cuts the training rows.
    """
    if dataset.context is None:
        return rows
    context = dataset.context.split(split)
    context = training_rows(config, context) if config is not None else context
    return np.concatenate([rows, context], axis=1)


def validation_columns(dataset) -> tuple[int | None, float]:
    """The ``features`` and ``log_abs_det`` arguments of :func:`flow_validator` for ``dataset``."""
    return (dataset.features if dataset.context is not None else None), dataset.log_abs_det


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


def check_model_options(config: FlowTrainingConfig, dataset) -> torch.nn.Module:
    """Builds the model once, as a check of its options; the run reseeds every RNG before its own build."""
    from maflow.models.registry import build_model

    return build_model(config.model, dataset.features, dataset.context_features, **config.model_options)


def build_flow(config: FlowTrainingConfig, dataset, device=None) -> tuple[torch.nn.Module, dict]:
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
            with_context(training_rows(config, dataset.train), dataset, "train", config)
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


def run_trainer(
    config, model, parts: dict, train, val, paths: RunPaths, logger, distributed: bool, dataset
) -> Trainer:
    """The trainer of :func:`maflow.train.flow.train_flow`: the loss for ``dataset`` (with a
    context, or data-parallel under torchrun), its validation, the NaN guard and signal handling."""
    if dataset.context is not None:
        if distributed:
            raise ConfigError(
                "a conditional run of one's own data trains on one process: run it without torchrun"
            )
        loss_fn = context_flow_loss(dataset.features)
    else:
        loss_fn = data_parallel_loss(model) if distributed else flow_loss
    validate_fn = flow_validator(model, train, val, config, *validation_columns(dataset))
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
