"""``maflow made``: train and evaluate a Bernoulli MADE on binary data (MADE paper, karpathy/pytorch-made's flags)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from maflow.errors import ConfigError
from maflow.nn.made import WEIGHT_INITS
from maflow.run.device import DEVICE_HELP, THREADS_HELP
from maflow.train.flag_parsing import seed_int
from maflow.train.flags import add_run_arguments

__all__ = ["register"]

BINARY_DATASETS = ("binarized_mnist", "dna", "mushrooms", "nips")


def _hidden_sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers like 500 or 8000,8000, got {text!r}"
        ) from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden layer sizes must be positive integers, got {text!r}")
    return sizes


def register(subparsers) -> None:
    parser = subparsers.add_parser("made", help="Bernoulli MADE on binary data (MNIST, DNA, ...)")
    commands = parser.add_subparsers(dest="made_command", required=True, metavar="ACTION")

    train = commands.add_parser("train", help="train, then report the TEST split's NLL")
    train.add_argument(
        "--dataset", required=True, help=f"a binary data set, e.g. {', '.join(BINARY_DATASETS)}"
    )
    train.add_argument(
        "--data-dir", help="folder holding the data (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    model = train.add_argument_group("model (the MADE authors' short flags kept)")
    model.add_argument(
        "--hidden-features",
        "--hiddens",
        "-q",
        dest="hidden_features",
        type=_hidden_sizes,
        default=[500],
        help="hidden sizes, e.g. 500 or 8000,8000",
    )
    model.add_argument(
        "-n", "--num-masks", type=int, default=1, help="order/connectivity draws cycled in training"
    )
    model.add_argument(
        "-r", "--resample-every", type=int, default=20, help="optimiser steps between mask changes"
    )
    model.add_argument(
        "--fresh-masks",
        action="store_true",
        help="a new order and connectivity at every mask change, never cycled (the MADE authors' "
        "shuffle_mask -1; with -r 1, one per update); -n is then ignored",
    )
    model.add_argument(
        "-s", "--samples", type=int, default=1, help="masks averaged (as probabilities) at val/test"
    )
    model.add_argument(
        "--val-samples", type=int, help="masks averaged for early stopping (default: --samples)"
    )
    model.add_argument("--order", choices=("random", "natural", "reversed"), default="random")
    model.add_argument("--hidden-degrees", choices=("random", "sequential"), default="random")
    model.add_argument("--activation", default="relu")
    model.add_argument(
        "--direct-input",
        action="store_true",
        help="masked direct input-to-output connection (MADE authors' code)",
    )
    model.add_argument(
        "--weight-init",
        choices=WEIGHT_INITS,
        default="maf",
        help="initial weights: maf (N(0,1)/sqrt(fan-in + 1), the MAF code's), orthogonal with zero "
        "biases (the MADE authors' best runs), torch (nn.Linear's) or xavier",
    )
    model.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="L2 coefficient (karpathy/pytorch-made: 1e-4; the MADE authors' code has none)",
    )
    model.add_argument("--lr-schedule", choices=("constant", "cosine"), default="constant")
    model.add_argument(
        "--optimizer",
        choices=("adam", "adadelta", "adagrad"),
        default="adam",
        help="the MADE authors used adadelta for DNA (with --lr 1 --rho 0.95 --eps 1e-5) and "
        "adagrad (--lr 0.01) for binarised MNIST",
    )
    model.add_argument("--rho", type=float, default=0.95, help="AdaDelta's decay")
    model.add_argument("--eps", type=float, help="the optimiser's epsilon (default: torch's)")
    defaults: dict[str, Any] = {"epochs": 100, "batch_size": 100, "lr": 1e-3, "patience": 30}
    add_run_arguments(
        train,
        out={"required": True, "help": "run folder: checkpoints, log and results.json"},
        **defaults,
        set_help="any setting: model.KEY (hidden_features, num_masks, ...) or train.KEY (lr, ...), TOML values",
    )
    train.set_defaults(run=run_train)

    evaluate = commands.add_parser("evaluate", help="score a trained model on a split")
    evaluate.add_argument("--out", required=True, help="run folder of `maflow made train` (holds best.pt)")
    evaluate.add_argument("--data-dir", help="folder holding the data")
    evaluate.add_argument("-s", "--samples", type=int, help="masks averaged (default: as trained)")
    evaluate.add_argument("--split", choices=("test", "val", "train"), default="test")
    evaluate.add_argument("--device", default="auto", help=DEVICE_HELP)
    evaluate.add_argument("--threads", type=int, help=THREADS_HELP)
    evaluate.set_defaults(run=run_evaluate)

    sample = commands.add_parser("sample", help="exact samples from the mask mixture (D passes each)")
    sample.add_argument("--out", required=True, help="run folder of `maflow made train` (holds best.pt)")
    sample.add_argument("-N", "--num-samples", type=int, default=64)
    sample.add_argument("-s", "--samples", type=int, help="masks in the mixture (default: as trained)")
    sample.add_argument("--seed", type=seed_int, default=0)
    sample.add_argument("--png", help="also save a grid image here (square data, e.g. MNIST)")
    sample.add_argument("--device", default="auto", help=DEVICE_HELP)
    sample.add_argument("--threads", type=int, help=THREADS_HELP)
    sample.set_defaults(run=run_sample)


def _load_dataset(name: str, data_dir: str | None):
    from maflow.data import load

    return load(name, data_dir=data_dir)


def _git_commit() -> str | None:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def _score(model, data, samples: int, batch_size: int) -> dict:
    from maflow.train.made import evaluate_log_likelihood, summarize

    return summarize(evaluate_log_likelihood(model, data, samples, batch_size))


# MadeTrainConfig fields that describe the model (the others describe its training).
MODEL_KEYS = (
    "hidden_features",
    "num_masks",
    "fresh_masks",
    "order",
    "hidden_degrees",
    "activation",
    "direct_input",
    "weight_init",
)


def _made_config(args):
    """The resolved configuration: flags, then ``--set``."""
    from maflow.train.flag_parsing import config_from_args
    from maflow.train.made_config import MadeTrainConfig

    renamed = {"ensemble_masks": "samples", "val_ensemble_masks": "val_samples"}
    return config_from_args(MadeTrainConfig, args, {"model": MODEL_KEYS}, **renamed).validated()


def _fill_from_run(args) -> None:
    """``--resume``: the flags left out take the run's own values (hidden sizes, seed, optimiser, ...)."""
    from maflow.train.made_checkpoint import made_resume_file
    from maflow.train.resume_flags import fill_from_run
    from maflow.utils.io import load_checkpoint

    path = made_resume_file(Path(args.out))
    if path.is_file():
        checkpoint = load_checkpoint(path)
        stored = {**(checkpoint.get("training_config") or {}), **(checkpoint.get("model_config") or {})}
        fill_from_run(args, stored, {"ensemble_masks": "samples", "val_ensemble_masks": "val_samples"})


def run_train(args) -> int:
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock, prepare_run_folder
    from maflow.train.flag_parsing import print_config
    from maflow.train.flags import check_run_arguments
    from maflow.train.made_checkpoint import made_resume_file, made_run_files
    from maflow.utils.io import ensure_writable_dir

    wall_start = time.perf_counter()
    commit = _git_commit()  # the code this run imported, not HEAD when it ends
    check_run_arguments(args)
    if args.resume:
        _fill_from_run(args)
    config = _made_config(args)
    if args.print_config:
        return print_config({"dataset": args.dataset, **vars(config), "limit_train": args.limit_train})
    device = resolve_device(args.device)
    set_threads(args.threads)
    out = ensure_writable_dir(args.out)  # a full disk fails here, before any work
    dataset = _load_dataset(args.dataset, args.data_dir)
    with RunLock(out, command_line()):
        artefacts, own = made_run_files(out)
        prepare_run_folder(out, artefacts, own, args.resume, args.overwrite, made_resume_file(out))
        return _train_in_folder(args, config, dataset, out, commit, wall_start, device)


def _train_in_folder(args, config, dataset, out: Path, commit, wall_start: float, device) -> int:
    from maflow.run.results import format_results
    from maflow.train.logger import TrainingLogger
    from maflow.train.made import train_made
    from maflow.train.made_checkpoint import LOG_NAME
    from maflow.utils.io import atomic_write_text, write_json

    train_rows = dataset.train[: args.limit_train] if args.limit_train else dataset.train
    with TrainingLogger(out / LOG_NAME, out / "tensorboard", echo=not args.quiet) as logger:
        logger.info(
            f"maflow made train: {args.dataset} {train_rows.shape[0]}/{dataset.val.shape[0]}/"
            f"{dataset.test.shape[0]} x {dataset.train.shape[1]}; {config}; device {device}"
        )
        model, summary = train_made(
            train_rows,
            dataset.val,
            config,
            out,
            extra={"dataset": args.dataset, "limit_train": args.limit_train},
            resume=args.resume,
            device=device,
            progress=False if args.quiet else None,
            logger=logger,
        )
        test = _score(model, dataset.test, config.ensemble_masks, config.eval_batch_size)
        results = {
            "dataset": args.dataset,
            "split_sizes": [len(train_rows), len(dataset.val), len(dataset.test)],
            "config": vars(config),
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "test": test,
            "test_single_mask": _score(model, dataset.test, 1, config.eval_batch_size)
            if config.ensemble_masks > 1
            else test,
            "val": _score(model, dataset.val, config.ensemble_masks, config.eval_batch_size),
            "command": "maflow " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("maflow") else None,
            "argv": sys.argv,
            "commit": commit,
            "cpu_seconds": time.process_time(),
            "wall_seconds": time.perf_counter() - wall_start,
            **{k: v for k, v in summary.items() if k != "history"},
        }
        write_json(out / "results.json", results)  # flat, as before the shared layout
        atomic_write_text(out / "results.txt", format_results({"binary MADE": results}))
        logger.info(
            f"TEST NLL (S={config.ensemble_masks} masks averaged as probabilities): "
            f"{test['nll']:.3f} ± {test['nll_2se']:.3f} nats over {test['count']} points; "
            f"single mask {results['test_single_mask']['nll']:.3f}; best epoch {summary['best_epoch']}"
            f" of {summary['epochs_run']} ({summary['stopped_by']}); results in {out / 'results.json'}",
            echo=True,
        )
    return 0


def run_evaluate(args) -> int:
    return _with_trained_model(args, _evaluate)  # it writes evaluate-*.json into the run folder


def run_sample(args) -> int:
    if args.num_samples < 1:
        raise ConfigError(f"--num-samples must be at least 1, got {args.num_samples}")
    return _with_trained_model(args, _sample)  # it writes samples-*.npy into the run folder


def _with_trained_model(args, action) -> int:
    """Locks the run folder, loads ``best.pt`` and runs ``action(args, model, checkpoint, masks)``."""
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import existing_run_lock
    from maflow.train.made_checkpoint import load_trained_made

    device = resolve_device(getattr(args, "device", "auto"))
    set_threads(args.threads)
    with existing_run_lock(args.out, command_line()):
        model, checkpoint = load_trained_made(args.out)
        model.to(device)
        masks = int(args.samples or checkpoint["config"]["ensemble_masks"])
        if not 1 <= masks <= model.num_masks:
            raise ConfigError(
                f"--samples must be in 1..{model.num_masks} (the masks this model was trained with)"
            )
        return action(args, model, checkpoint, masks)


def _evaluate(args, model, checkpoint, samples: int) -> int:
    from maflow.errors import CheckpointError
    from maflow.train.made import check_binary
    from maflow.train.made_checkpoint import same_training_data
    from maflow.utils.io import write_json

    dataset = _load_dataset(checkpoint["dataset"], args.data_dir)
    if not same_training_data(checkpoint, check_binary("train", dataset.train)):
        raise CheckpointError(
            f"the {checkpoint['dataset']!r} training split found now differs from the one this model "
            "was trained on; check --data-dir"
        )
    data = check_binary(args.split, dataset.split(args.split), model.features)
    result = {
        "dataset": checkpoint["dataset"],
        "split": args.split,
        "samples": samples,
        **_score(model, data, samples, 1000),
        "commit": _git_commit(),
    }
    write_json(Path(args.out) / f"evaluate-{args.split}-s{samples}.json", result)
    print(
        f"{checkpoint['dataset']} {args.split} NLL (S={samples}): "
        f"{result['nll']:.3f} ± {result['nll_2se']:.3f} nats over {result['count']} points"
    )
    return 0


def _sample(args, model, checkpoint, masks: int) -> int:
    import io
    import math

    import numpy as np
    import torch

    from maflow.utils.io import atomic_write

    device = next(model.parameters()).device
    generator = torch.Generator(device=device).manual_seed(args.seed)
    # A mixture sample: pick a mask uniformly, then sample exactly under it.
    choice = torch.randint(masks, (args.num_samples,), generator=generator, device=device)
    samples = torch.zeros(args.num_samples, model.features, device=device)
    with torch.no_grad():
        for index in range(masks):
            rows = (choice == index).nonzero().squeeze(1)
            if len(rows):
                model.set_mask_index(index)
                samples[rows] = model.sample(len(rows), generator=generator)
    model.set_mask_index(0)
    samples = samples.cpu()
    path = Path(args.out) / "samples" / f"samples-s{masks}-seed{args.seed}.npy"
    path.parent.mkdir(exist_ok=True)
    buffer = io.BytesIO()
    np.save(buffer, samples.numpy().astype(np.uint8))
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    print(f"{args.num_samples} samples from the mixture of {masks} masks in {path}")
    side = math.isqrt(model.features)
    from maflow.utils.optional import has_plotting

    if args.png and side * side != model.features:
        raise ConfigError(f"--png needs square data; this model has {model.features} features")
    if args.png and has_plotting():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        columns = math.ceil(math.sqrt(args.num_samples))
        rows_count = math.ceil(args.num_samples / columns)
        grid = np.ones((rows_count * (side + 1), columns * (side + 1)))
        for k, image in enumerate(samples.numpy().reshape(-1, side, side)):
            r, c = divmod(k, columns)
            grid[r * (side + 1) : r * (side + 1) + side, c * (side + 1) : c * (side + 1) + side] = 1 - image
        buffer = io.BytesIO()
        plt.imsave(buffer, grid, cmap="gray", format="png")
        atomic_write(args.png, lambda f: f.write(buffer.getvalue()))
        print(f"grid image in {args.png}")
    return 0
