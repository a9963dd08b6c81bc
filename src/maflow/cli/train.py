"""``maflow train``: fit a flow by maximum likelihood with a data set's preset, flags overriding it."""

from __future__ import annotations

import argparse

from maflow.train.flags import MODEL_FLAGS, TRAIN_FLAGS, add_model_arguments, model_options_from_args

__all__ = [
    "register",
    "add_model_arguments",
    "model_options_from_args",
    "MODEL_FLAGS",
    "TRAIN_FLAGS",
    "HelpFormatter",
    "run",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the unset ones that the data set's preset fills in."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == [] or action.help is None:
            return action.help
        return super()._get_help_string(action)


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
    add_model_arguments(parser)
    group = parser.add_argument_group("training (defaults from the data set's preset)")
    group.add_argument("--epochs", type=int, help="last epoch (early stopping may end sooner)")
    group.add_argument("--batch-size", "--batch_size", type=int)
    group.add_argument("--lr", type=float, help="Adam learning rate")
    group.add_argument("--weight-decay", "--weight_decay", type=float, help="L2 coefficient")
    group.add_argument(
        "--weight-decay-mode",
        choices=["l2", "decoupled"],
        default="l2",
        help="l2: Adam's coupled decay (= the MAF code's loss term); decoupled: AdamW",
    )
    group.add_argument("--grad-clip", "--grad_clip", type=float, help="max gradient norm, 0 = off")
    group.add_argument("--patience", type=int, help="validations without improvement before stopping")
    group.add_argument("--seed", type=int, default=0)
    group.add_argument(
        "--bn-stats",
        choices=["dataset", "running"],
        default="dataset",
        help="batch-norm statistics at validation: whole training set (MAF code) or running averages",
    )
    group.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on 2 cores)")
    group.add_argument(
        "--num-samples", "--num_samples", type=int, default=64, help="samples drawn at the end"
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bar")
    group.add_argument(
        "--nan-policy",
        choices=["rollback", "stop"],
        default="rollback",
        help="on NaN/Inf in the loss, gradients or weights: roll back to the epoch's start, or stop",
    )
    group.add_argument(
        "--nan-lr-factor", type=float, default=0.5, help="learning-rate factor at each rollback"
    )
    group.add_argument("--max-rollbacks", type=int, default=3, help="rollbacks before stopping")
    files = parser.add_argument_group("files")
    files.add_argument("--out", default="out", help="output root; the run goes to OUT/<dataset>/")
    files.add_argument(
        "--data-dir", "--data_dir", help="data directory (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    files.add_argument(
        "--resume", action="store_true", help="continue from OUT/<dataset>/checkpoints/latest.pth"
    )
    files.add_argument(
        "--overwrite",
        action="store_true",
        help="start over: remove the run's checkpoints, results, samples and figures in OUT/<dataset> "
        "(never other files; not with --resume)",
    )
    parser.set_defaults(run=run)


def _config(args, dataset: str):
    from maflow.configs import load_preset
    from maflow.train.flow import FlowTrainingConfig

    train, options, _ = load_preset(dataset, args.model)
    for flag in TRAIN_FLAGS:
        value = getattr(args, flag)
        if value is not None:
            train[flag] = value
    return FlowTrainingConfig(
        dataset=dataset,
        model=train.pop("model"),
        model_options=model_options_from_args(args, options),
        weight_decay_mode=args.weight_decay_mode,
        seed=args.seed,
        bn_stats=args.bn_stats,
        threads=args.threads,
        num_samples=args.num_samples,
        progress=False if args.no_progress else None,
        nan_policy=args.nan_policy,
        nan_lr_factor=args.nan_lr_factor,
        max_rollbacks=args.max_rollbacks,
        **train,
    ).validate()


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

    if args.model is not None and args.model not in MODELS:
        raise ConfigError(f"unknown model {args.model!r}: choose one of {', '.join(sorted(MODELS))}")
    if args.auto == bool(args.dataset):
        raise ConfigError("give either --dataset NAME or --auto")
    if args.resume and args.overwrite:
        from maflow.train.flow import RESUME_AND_OVERWRITE

        raise ConfigError(RESUME_AND_OVERWRITE)
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
    configs = [_config(args, name) for name in datasets]  # every flag is checked before any training
    from maflow.train.flow import train_flow

    for config in configs:
        result = train_flow(config, args.out, args.data_dir, resume=args.resume, overwrite=args.overwrite)
        print(
            f"{config.dataset}: best validation log-likelihood {result['val_log_likelihood']:.3f} "
            f"± {result['val_log_likelihood_2se'] or float('nan'):.3f} at epoch {result['best_epoch']}; "
            f"results in {result['checkpoint'].rsplit('/checkpoints', 1)[0]}"
        )
    return 0
