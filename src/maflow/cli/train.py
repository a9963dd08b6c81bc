"""``maflow train``: fit a flow by maximum likelihood with a data set's preset, flags overriding it."""

from __future__ import annotations

import argparse

from maflow.train.flags import (
    MODEL_FLAGS,
    TRAIN_FLAGS,
    add_flow_training_arguments,
    add_model_arguments,
    model_options_from_args,
)

__all__ = [
    "register",
    "add_model_arguments",
    "model_options_from_args",
    "MODEL_FLAGS",
    "TRAIN_FLAGS",
    "HelpFormatter",
    "trained_run_parser",
    "run",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the unset ones that the data set's preset fills in."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == [] or action.help is None:
            return action.help
        return super()._get_help_string(action)


def trained_run_parser(subparsers, name: str, description: str, help_text: str, help_seed: str):
    """The parser of a command that reads a trained run (``evaluate``, ``sample``), with their shared flags."""
    from maflow.run.device import DEVICE_HELP, THREADS_HELP

    parser = subparsers.add_parser(
        name, help=help_text, description=description, formatter_class=HelpFormatter
    )
    parser.add_argument("--dataset", required=True, help="data set of the trained run")
    parser.add_argument("--out", default="out", help="output root given to maflow train")
    parser.add_argument(
        "--data-dir", "--data_dir", help="data directory (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    parser.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    parser.add_argument("--seed", type=int, default=0, help=help_seed)
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    return parser


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a flow on a data set",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--dataset", help="data set name (digits, mnist, ...)")
    parser.add_argument(
        "--auto", action="store_true", help="train the preset of every image data set present"
    )
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="class-conditional flow (context = one-hot label); the run goes to OUT/<dataset>_conditional_<model>/",
    )
    add_flow_training_arguments(parser)
    parser.set_defaults(run=run)


def _auto_datasets(data_dir) -> list[str]:
    from maflow.configs import available_presets
    from maflow.data import DATASETS, load
    from maflow.errors import DataError

    present = []
    for name in available_presets():
        if name in DATASETS and DATASETS[name].kind == "image":
            try:
                load(name, data_dir)
            except DataError as error:
                print(f"maflow train --auto: skipping {name}: {str(error).splitlines()[0]}")
                continue
            present.append(name)
    return present


def _check_continuous(spec) -> None:
    # A continuous density on discrete values can grow without bound: its "likelihood" means nothing.
    from maflow.errors import ConfigError

    if spec.kind == "binary":
        raise ConfigError(
            f"{spec.name} is binary: a flow's continuous density on 0/1 data is meaningless; "
            f"train a Bernoulli MADE with `maflow made train --dataset {spec.name}`"
        )
    if spec.kind == "image" and spec.logit_lambda is None:
        raise ConfigError(
            f"{spec.name} holds raw pixels without dequantisation (for classifiers and dynamic "
            "binarisation); train flows on the dequantised, logit-space set (e.g. --dataset mnist)"
        )


def run(args) -> int:
    from maflow.errors import ConfigError
    from maflow.models.registry import MODELS
    from maflow.train.flags import check_run_arguments, print_config
    from maflow.train.flow import flow_config_from_args

    if args.model is not None and args.model not in MODELS:
        raise ConfigError(f"unknown model {args.model!r}: choose one of {', '.join(sorted(MODELS))}")
    if args.auto == bool(args.dataset):
        raise ConfigError("give either --dataset NAME or --auto")
    if args.auto and args.conditional:
        raise ConfigError("--conditional trains one labelled data set: give --dataset NAME instead of --auto")
    check_run_arguments(args)
    if args.dataset:
        from maflow.data import DATASETS

        if args.dataset not in DATASETS:
            raise ConfigError(
                f"unknown data set {args.dataset!r}: choose one of {', '.join(sorted(DATASETS))}"
            )
        _check_continuous(DATASETS[args.dataset])
        datasets = [args.dataset]
    else:
        datasets = _auto_datasets(args.data_dir)
        print(f"maflow train --auto: training {', '.join(datasets) or 'nothing'}")
    configs = [flow_config_from_args(args, name) for name in datasets]  # every flag is checked first
    if args.print_config:
        from dataclasses import asdict

        resolved = [{**asdict(c), "conditional": args.conditional} for c in configs]
        return print_config(resolved[0] if len(resolved) == 1 else resolved)
    if args.conditional:
        return _train_conditional(args, configs[0])
    from maflow.train.flow import train_flow

    for config in configs:
        result = train_flow(
            config, args.out, args.data_dir, resume=args.resume, overwrite=args.overwrite, echo=not args.quiet
        )
        print(
            f"{config.dataset}: best validation log-likelihood {result['val_log_likelihood']:.3f} "
            f"± {result['val_log_likelihood_2se'] or float('nan'):.3f} at epoch {result['best_epoch']}; "
            f"results in {result['checkpoint'].rsplit('/checkpoints', 1)[0]}"
        )
    return 0


def _train_conditional(args, config) -> int:
    from maflow.train.conditional import print_test_line, train_conditional_flow

    results = train_conditional_flow(
        config, args.out, args.data_dir, echo=not args.quiet, resume=args.resume, overwrite=args.overwrite
    )
    print_test_line(results["test"])
    return 0
