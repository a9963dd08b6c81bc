"""``maflow mnf``: train the MNF LeNet or LeNet on MNIST, its test error, the rotated-digit figure,
the Fashion-MNIST check."""

from __future__ import annotations

import argparse

from maflow.run.device import DEVICE_HELP, THREADS_HELP
from maflow.train.flag_parsing import pick, seed_int
from maflow.train.flags import add_run_arguments
from maflow.train.mnf_config import DEFAULT_DENSE

__all__ = ["register"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mnf",
        help="multiplicative normalizing flows: Bayesian LeNet on MNIST",
        description=__doc__,
    )
    commands = parser.add_subparsers(dest="mnf_command", required=True, metavar="MNF_COMMAND")

    train = commands.add_parser("train", help="train mnf-lenet or lenet on grey MNIST (50k/10k/10k)")
    train.add_argument("--model", choices=["mnf-lenet", "lenet"], default="mnf-lenet")
    train.add_argument(
        "--data-dir", default=None, help="folder holding mnist/ (default $MAFLOW_DATA or ~/.cache/maflow)"
    )
    train.add_argument("--kl-weight", type=float, default=1.0, help="multiplies KL / N_train (1: the ELBO)")
    train.add_argument(
        "--kl-anneal-epochs", type=float, default=0.0, help="linear KL warm-up length (0: off)"
    )
    train.add_argument(
        "--mask-mode", choices=["fixed", "fresh"], default="fixed", help="masks of the MNF flows"
    )
    train.add_argument(
        "--dense-features",
        type=int,
        default=DEFAULT_DENSE,
        help="the MNF LeNet's dense hidden width: 50 (janosh/torch-mnf, default) or 500 (the MNF authors')",
    )
    train.add_argument(
        "--max-std",
        type=float,
        default=None,
        help="cap the MNF weights' standard deviation in the forward pass (the authors' thres_var, "
        "0.5 in their script; default: no cap)",
    )
    train.add_argument("--test-samples", type=int, default=10, help="posterior samples per test image (MNF)")
    train.add_argument(
        "--max-minutes", type=float, default=None, help="stop after the epoch that passes this"
    )
    add_run_arguments(
        train,
        out={
            "required": True,
            "help": "run folder (checkpoints/latest.pth, results.json, logs/training.log, tensorboard/)",
        },
        epochs=10,
        batch_size=100,
        lr=1e-3,
        epochs_help="passes over the training split",
        set_help="any setting of the run (kl_weight, val_samples, log_every, ...), TOML values",
    )
    train.set_defaults(run=_train)

    evaluate = commands.add_parser(
        "evaluate", help="test error and NLL (± 2 SE) of a trained run, into RUN/results.json"
    )
    evaluate.add_argument("--out", required=True, help="the run folder given to 'maflow mnf train'")
    evaluate.add_argument(
        "--checkpoint",
        choices=["best", "latest"],
        default="latest",
        help="latest: the last epoch, which training scores (default); best: the lowest validation NLL",
    )
    evaluate.add_argument(
        "--test-samples", type=int, help="posterior samples per test image (default: as trained; LeNet: 1)"
    )
    evaluate.add_argument("--data-dir", default=None, help="folder holding mnist/")
    evaluate.add_argument("--device", default="auto", help=DEVICE_HELP)
    evaluate.add_argument("--threads", type=int, help=THREADS_HELP)
    evaluate.add_argument("--seed", type=seed_int, default=0, help="seeds the posterior samples")
    evaluate.set_defaults(run=_evaluate)

    runs = argparse.ArgumentParser(add_help=False)
    runs.add_argument("--mnf-run", required=True, help="run directory of a trained mnf-lenet")
    runs.add_argument("--lenet-run", required=True, help="run directory of a trained lenet")
    runs.add_argument("--data-dir", default=None, help="folder holding mnist/")
    runs.add_argument("--seed", type=seed_int, default=0)

    rotate = commands.add_parser(
        "rotate", parents=[runs], help="predictions on a test digit rotated up to 180 degrees"
    )
    rotate.add_argument(
        "--digit-index", type=int, default=12, help="index into the MNIST test split (12 is a 9)"
    )
    rotate.add_argument("--step", type=float, default=20.0, help="degrees between panels")
    rotate.add_argument("--max-angle", type=float, default=180.0)
    rotate.add_argument("--samples", type=int, default=500, help="MNF posterior samples per panel")
    rotate.add_argument(
        "--out", required=True, help="figure file (.png or .pdf); a .json with the numbers goes beside it"
    )
    rotate.set_defaults(run=_rotate)

    ood = commands.add_parser(
        "ood", parents=[runs], help="predictive entropy on Fashion-MNIST vs MNIST test images"
    )
    ood.add_argument(
        "--fashion-dir",
        default=None,
        help="folder with the Fashion-MNIST IDX files (e.g. /usr/share/datasets/fashion-mnist); default --data-dir",
    )
    ood.add_argument("--samples", type=int, default=100, help="MNF posterior samples per image")
    ood.add_argument("--limit", type=int, default=1000, help="images from each test split")
    ood.add_argument("--out", default=None, help="write the numbers to this .json")
    ood.set_defaults(run=_ood)


def _setup(seed: int, threads: int | None = None) -> None:
    import torch

    from maflow.run.device import set_threads

    set_threads(threads)
    torch.manual_seed(seed)


def _train(args) -> int:
    from dataclasses import asdict

    from maflow.data import load
    from maflow.run.device import resolve_device
    from maflow.train.flag_parsing import config_from_args, print_config
    from maflow.train.flags import check_run_arguments
    from maflow.train.mnf import MNFTrainConfig, train_classifier

    check_run_arguments(args)
    if args.resume:  # the flags left out take the run's own values
        from pathlib import Path

        from maflow.train.resume_flags import fill_from_run, stored_settings

        fill_from_run(args, stored_settings(Path(args.out) / "checkpoints" / "latest.pth", "mnf") or {})
    config = config_from_args(MNFTrainConfig, args)
    if args.print_config:
        return print_config(asdict(config))
    resolve_device(config.device)  # an absent GPU is one line, before the data are read
    _setup(config.seed, args.threads)
    dataset = load("mnist_grey", args.data_dir)
    metrics = train_classifier(
        config, dataset, args.out, resume=args.resume, echo=not args.quiet, overwrite=args.overwrite
    )
    print(f"test error {metrics['test']['error_percent']:.2f}% -> {args.out}/results.json")
    return 0


def _evaluate(args) -> int:
    from maflow.errors import ConfigError
    from maflow.evaluate.mnf import evaluate_classifier_run
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device
    from maflow.run.family_results import record_evaluation
    from maflow.run.folder import existing_run_lock

    for flag, value in (("--test-samples", args.test_samples), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be at least 1, got {value}")
    device = resolve_device(args.device)
    _setup(args.seed, args.threads)
    with existing_run_lock(args.out, command_line()):  # it writes RUN/results.json
        options = pick(args, "data_dir", which="checkpoint", num_samples="test_samples")
        evaluation = evaluate_classifier_run(args.out, device=device, **options)
        evaluation.update(seed=args.seed, command=command_line())
        record_evaluation(args.out, evaluation["model"], evaluation)
    e = evaluation
    samples = f"{e['num_samples']} posterior samples" if e["num_samples"] > 1 else "one pass"
    print(
        f"{e['model']} test error {e['error_percent']:.2f}% ± {e['error_percent_2se']:.2f}, "
        f"NLL {e['nll']:.4f} ± {e['nll_2se']:.4f} nats (± 2 SE over {e['count']} images, {samples}, "
        f"{args.checkpoint} checkpoint, epoch {e['epoch']}); results.json in {args.out}"
    )
    return 0


def _rotate(args) -> int:
    from maflow.evaluate.mnf import rotation_study

    _setup(args.seed)
    options = pick(args, "data_dir", "digit_index", "step", "max_angle", num_samples="samples")
    summary = rotation_study(args.mnf_run, args.lenet_run, args.out, **options)
    for angle, mnf, lenet in zip(summary["angles"], summary["mnf_argmax"], summary["lenet_argmax"]):
        print(f"{angle:5.0f} deg: MNF predicts {mnf}, LeNet {lenet}")
    print(f"figure -> {args.out}")
    return 0


def _ood(args) -> int:
    from maflow.evaluate.mnf import ood_study

    _setup(args.seed)
    options = pick(args, "data_dir", "fashion_dir", "limit", "out", num_samples="samples")
    summary = ood_study(args.mnf_run, args.lenet_run, **options)
    for model, rows in summary["models"].items():
        print(
            f"{model:10s} mean predictive entropy: MNIST {rows['mnist']['entropy']:.3f}, "
            f"Fashion-MNIST {rows['fashion']['entropy']:.3f} nats; AUROC {rows['auroc']:.3f}"
        )
    return 0
