"""Class-conditional flow training on a labelled data set: the context is the one-hot label.

Run as ``maflow train --conditional --dataset mnist --model maf ...`` (every flag of ``maflow
train``; ``python -m maflow.train.conditional`` takes the same flags). The run goes to
``--out`` (default ``out/<dataset>_conditional_<model>/``), locked while it runs. It reuses the generic training loop; validation and early stopping use
log p(x|y) with the true labels, and the test set is reported as in the MAF paper's
conditional columns: log p(x|y), log p(x) = logsumexp_y log p(x|y) - log C, and the accuracy
of classifying by argmax_y log p(x|y).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "train_conditional_flow",
    "conditional_paths",
    "conditional_run_name",
    "evaluate_conditional_checkpoint",
    "print_test_line",
    "main",
]


def _split(batch: torch.Tensor, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    return batch[:, :features], batch[:, features:]


def conditional_run_name(dataset: str, model: str) -> str:
    """The name of a class-conditional run (its default folder is ``out/<name>``).

    Example:
        >>> conditional_run_name("mnist", "maf")
        'mnist_conditional_maf'
    """
    return f"{dataset}_conditional_{model}"


def conditional_paths(out: str | Path, dataset: str, model: str, resume: bool = False):
    """The run folder ``out`` of a class-conditional run, and the files that mark it and that it writes.

    With ``resume``, a run of the old layout in ``out/<dataset>_conditional_<model>/`` is found.
    """
    from maflow.run.locate import locate_run
    from maflow.run.paths import RunPaths

    name = conditional_run_name(dataset, model)
    paths = locate_run(out, name) if resume else RunPaths(out, name)
    artefacts = [paths.latest, paths.best, paths.root / "results.json", paths.root / "results.txt"]
    own = {
        paths.root: ["results.json", "results.txt"],
        paths.checkpoints: [paths.best.name, paths.latest.name, "best.test.json", "latest.test.json"],
    }
    return paths, artefacts, own


def train_conditional_flow(
    config, out: str | Path, data_dir=None, echo: bool = True, resume: bool = False, overwrite: bool = False
) -> dict:
    """Trains ``config.model`` (a :class:`maflow.train.flow_config.FlowTrainingConfig`) with label contexts.

    The run folder is locked for the whole run; an existing run there is continued with
    ``resume``, replaced with ``overwrite``, and otherwise refused.
    """
    from maflow.errors import ConfigError
    from maflow.models.registry import build_model
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device
    from maflow.run.folder import RESUME_AND_OVERWRITE, RunLock, prepare_run_folder
    from maflow.utils.io import ensure_writable_dir

    config.validate()
    if resume and overwrite:
        raise ConfigError(RESUME_AND_OVERWRITE)
    device = resolve_device(config.device)
    paths, artefacts, own = conditional_paths(out, config.dataset, config.model, resume)
    dataset = _labelled_dataset(config, data_dir)
    build_model(config.model, dataset.features, dataset.num_classes, **config.model_options)  # options check
    ensure_writable_dir(paths.root)
    with RunLock(paths.root, command_line()):
        prepare_run_folder(paths.root, artefacts, own, resume, overwrite, paths.latest)
        return _train_conditional(config, dataset, paths, echo, resume, device)


def _labelled_dataset(config, data_dir):
    from maflow.data import load
    from maflow.errors import ConfigError

    dataset = load(config.dataset, data_dir)
    if dataset.train_labels is None or not dataset.num_classes:
        raise ConfigError(f"{config.dataset} has no class labels: a class-conditional model needs them")
    return dataset


def _train_conditional(config, dataset, paths, echo: bool, resume: bool, device) -> dict:
    from maflow.run.commit import git_commit
    from maflow.run.conditional import one_hot
    from maflow.run.device import set_threads
    from maflow.run.results import format_results
    from maflow.train.flow_setup import training_rows
    from maflow.train.logger import TrainingLogger
    from maflow.utils.io import atomic_write_text, write_json

    set_threads(config.threads)
    classes = dataset.num_classes
    torch.manual_seed(config.seed)

    def labelled(x, labels):
        return torch.cat([torch.from_numpy(x), one_hot(torch.from_numpy(labels), classes)], dim=1).to(device)

    train = labelled(training_rows(config, dataset.train), training_rows(config, dataset.train_labels))
    val = labelled(dataset.val, dataset.val_labels)
    start = time.perf_counter()
    with TrainingLogger(paths.log_file, paths.tensorboard, echo=echo) as logger:
        trainer, parts = _conditional_trainer(config, dataset, train, val, paths, logger)
        if resume and paths.latest.is_file():
            _resume(trainer, config, parts, paths, logger)
        summary = trainer.fit(train)
        test = _test_report(trainer.model, dataset, train, config, logger)
    results = {
        "dataset": config.dataset,
        "model": config.model,
        "model_config": parts["model_config"],
        "parameters": sum(p.numel() for p in trainer.model.parameters()),
        "epochs_run": summary["epoch"],
        "best_epoch": summary["best_epoch"],
        "test": test,
        "wall_seconds": time.perf_counter() - start,
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
    }
    write_json(paths.root / "results.json", results)
    atomic_write_text(paths.root / "results.txt", format_results({"class-conditional flow": results}))
    return results


def _conditional_trainer(config, dataset, train, val, paths, logger):
    """The model, its optimiser and checkpoints in the generic Trainer; logs what it trains."""
    from dataclasses import asdict

    from maflow.models.registry import build_model
    from maflow.run.checkpoint import data_fingerprint
    from maflow.train.flow_setup import flow_trainer, make_optimizer, training_rows

    features, classes = dataset.features, dataset.num_classes
    model = build_model(config.model, features, classes, **config.model_options).to(train.device)
    parts = {
        "model_config": {"features": features, "context_features": classes, **config.model_options},
        "fingerprint": data_fingerprint(training_rows(config, dataset.train)),
        "training_config": asdict(config),
        "optimizer": make_optimizer(model, config),
        "generator": torch.Generator().manual_seed(config.seed),
    }

    def loss_fn(model, batch):
        return -model.log_prob(*_split(batch, features)).mean()

    parameters = sum(p.numel() for p in model.parameters())
    logger.info(
        f"class-conditional {config.model} on {config.dataset} ({classes} classes, D = {features}), "
        f"{parameters:,} parameters, options {config.model_options}, lr {config.lr}, batch "
        f"{config.batch_size}, epochs {config.epochs}, seed {config.seed}, device {train.device}"
    )
    validate_fn = _validator(train, val, features, config.eval_batch_size)
    return flow_trainer(config, model, parts, loss_fn, validate_fn, paths, logger), parts


def _validator(train, val, features: int, batch_size: int):
    """Validation of log p(x|y) with the true labels, after whole-training-set batch-norm statistics."""
    from maflow.transforms.batchnorm import recompute_batchnorm_statistics
    from maflow.utils.stats import mean_and_error

    @torch.no_grad()
    def validate(model):
        recompute_batchnorm_statistics(model.transform, *_split(train, features))
        model.eval()
        ll = torch.cat([model.log_prob(*_split(b, features)) for b in val.split(batch_size)])
        model.train()
        ll = ll.double().cpu().numpy()
        if not np.isfinite(ll).all():
            return float("inf"), {"val_ll_given_y": float("-inf")}
        mean, error = mean_and_error(ll)
        return -mean, {"val_ll_given_y": mean, "val_ll_given_y_2se": error}

    return validate


def _resume(trainer, config, parts: dict, paths, logger) -> None:
    from maflow.run.checkpoint import load_training_checkpoint
    from maflow.train.flow_resume import check_same_trajectory, resume_learning_rate

    expected = dict(model_name=config.model, model_config=parts["model_config"], dataset=config.dataset)
    latest = load_training_checkpoint(paths.latest, fingerprint=parts["fingerprint"], **expected)
    check_same_trajectory(latest.get("training_config", {}), parts["training_config"], paths.latest)
    best = load_training_checkpoint(paths.best, **expected) if paths.best.is_file() else None
    trainer.restore(latest, best)
    resume_learning_rate(trainer, latest.get("training_config", {}), config.lr)
    logger.info(f"resumed from {paths.latest} at epoch {trainer.epoch}, step {trainer.step}")


def _test_report(model, dataset, train, config, logger) -> dict:
    """The MAF paper's conditional columns on the test set: log p(x|y), log p(x), accuracy."""
    from maflow.run.conditional import conditional_report
    from maflow.transforms.batchnorm import recompute_batchnorm_statistics

    recompute_batchnorm_statistics(model.transform, *_split(train, dataset.features))
    model.eval()
    test = conditional_report(
        model.double(),
        torch.from_numpy(dataset.test).double(),
        torch.from_numpy(dataset.test_labels),
        dataset.num_classes,
        config.eval_batch_size,
    )
    logger.info(
        f"test: log p(x|y) {test['log_p_x_given_y']:.2f} ± {test['log_p_x_given_y_2se']:.2f}, "
        f"log p(x) {test['log_p_x']:.2f} ± {test['log_p_x_2se']:.2f}, accuracy {test['accuracy']:.4f}"
    )
    return test


def evaluate_conditional_checkpoint(
    path: str | Path, dataset_name: str, data_dir=None, batch_size: int = 1000
) -> dict:
    """Test-set report of a saved class-conditional model (e.g. ``best.pth`` of a stopped run)."""
    import contextlib

    from maflow.run.command import command_line
    from maflow.run.folder import RunLock

    start = time.perf_counter()
    path = Path(path)
    in_run = path.parent.name == "checkpoints"  # a run folder's checkpoint: the report goes into it
    with RunLock(path.parent.parent, command_line()) if in_run else contextlib.nullcontext():
        return _evaluate_checkpoint(path, dataset_name, data_dir, batch_size, start)


def _evaluate_checkpoint(path: Path, dataset_name: str, data_dir, batch_size: int, start: float) -> dict:
    from maflow.data import load
    from maflow.run.checkpoint import rebuild_model
    from maflow.run.commit import git_commit
    from maflow.run.conditional import conditional_report
    from maflow.utils.io import load_checkpoint, write_json

    checkpoint = load_checkpoint(path)
    model = rebuild_model(checkpoint, path).double().eval()
    dataset = load(dataset_name, data_dir)
    test = conditional_report(
        model,
        torch.from_numpy(dataset.test).double(),
        torch.from_numpy(dataset.test_labels),
        dataset.num_classes,
        batch_size,
    )
    results = {
        "checkpoint": str(path),
        "epoch": checkpoint.get("epoch"),
        "model": checkpoint["model_name"],
        "model_config": checkpoint["model_config"],
        "test": test,
        "eval_seconds": time.perf_counter() - start,
        "git_commit": git_commit(),
        "command": " ".join(sys.argv),
    }
    write_json(Path(path).with_suffix(".test.json"), results)
    return results


PROG = "python -m maflow.train.conditional"


def print_test_line(test: dict) -> None:
    print(
        f"test log p(x|y) {test['log_p_x_given_y']:.2f}, log p(x) {test['log_p_x']:.2f}, "
        f"accuracy {test['accuracy']:.4f}"
    )


def command_line_main(argv=None) -> int:
    """:func:`main` for the command line: an error or an interrupt is one line and an exit status."""
    from maflow.run.interrupt import run_reporting

    return run_reporting(PROG, main, argv)


def main(argv=None) -> int:
    """Parses ``argv`` and trains (or evaluates a checkpoint); errors are raised.

    The same flags as ``maflow train --conditional``, which is the command to use; this entry
    point stays for the commands already published with it.
    """
    from maflow.run.command import set_command
    from maflow.train.flag_parsing import print_config
    from maflow.train.flags import check_run_arguments
    from maflow.train.flow_config import flow_config_from_args
    from maflow.train.flow_flags import add_flow_training_arguments

    argv = list(sys.argv[1:] if argv is None else argv)
    set_command(argv, prog=PROG)
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__)
    parser.add_argument("--dataset", required=True)
    add_flow_training_arguments(parser)
    parser.add_argument(
        "--evaluate-checkpoint", metavar="PATH", help="only report the test set of a saved model"
    )
    args = parser.parse_args(argv)
    check_run_arguments(args)
    if args.evaluate_checkpoint:
        print_test_line(
            evaluate_conditional_checkpoint(args.evaluate_checkpoint, args.dataset, args.data_dir)["test"]
        )
        return 0
    config = flow_config_from_args(args, args.dataset)
    if args.print_config:
        from dataclasses import asdict

        return print_config({**asdict(config), "conditional": True})
    from maflow.train.flow_flags import run_folder

    out = run_folder(args.out, conditional_run_name(config.dataset, config.model))
    results = train_conditional_flow(
        config, out, args.data_dir, echo=not args.quiet, resume=args.resume, overwrite=args.overwrite
    )
    print_test_line(results["test"])
    return 0


if __name__ == "__main__":
    sys.exit(command_line_main())
