"""``maflow train``: fit a flow by maximum likelihood with a data set's preset, flags overriding it.

``--dataset NAME`` trains on a registered data set, ``--data PATH`` on a file of one's own
(``.npy``, ``.npz``, ``.csv``, ``.tsv``, ``.pt``, ``.parquet``), standardised with the training
split's statistics; ``--context PATH`` or ``--labels PATH`` make it conditional, p(x | c).
"""

from __future__ import annotations

import argparse

from maflow.train.flag_parsing import seed_int
from maflow.train.flow_flags import (
    MODEL_FLAGS,
    TRAIN_FLAGS,
    add_flow_training_arguments,
    add_model_arguments,
    model_options_from_args,
    run_folder,
)

__all__ = [
    "register",
    "add_model_arguments",
    "model_options_from_args",
    "MODEL_FLAGS",
    "TRAIN_FLAGS",
    "HelpFormatter",
    "trained_run_parser",
    "trained_run",
    "data_run_name",
    "run",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except the unset ones that the data set's preset fills in."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == [] or action.help is None:
            return action.help
        return super()._get_help_string(action)


def trained_run_parser(subparsers, name: str, description: str, help_text: str, help_seed: str):
    """The parser of a command that reads a trained run (``evaluate``, ``sample``), with their shared flags.

    The run is the folder ``--out RUN`` (or ``--run RUN``: the same), the ``--out`` of the
    training; ``--dataset NAME`` alone names ``out/NAME``, the default folder of ``maflow train``.
    A run of the old layout (``OUT/<dataset>/``) is found from ``OUT`` too.
    """
    from maflow.run.device import DEVICE_HELP, THREADS_HELP

    parser = subparsers.add_parser(
        name, help=help_text, description=description, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "--dataset", help="data set of the run (the checkpoint names it; alone: the run in out/NAME)"
    )
    parser.add_argument("--run", dest="run_dir", metavar="RUN", help="the run folder (the same as --out)")
    parser.add_argument("--out", metavar="RUN", help="the run folder: the --out given to maflow train")
    parser.add_argument(
        "--data-dir", "--data_dir", help="data directory (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    parser.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    parser.add_argument("--seed", type=seed_int, default=0, help=help_seed)
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    return parser


def trained_run(args):
    """The :class:`RunPaths` of the run that ``--out``/``--run`` (or ``--dataset`` alone) names, and
    the checkpoint's data record (None for a registered data set's run); checked before any work."""
    from maflow.errors import CheckpointError, ConfigError
    from maflow.evaluate.arrays import load_run
    from maflow.run.locate import locate_run
    from maflow.run.paths import RunPaths

    given = [folder for folder in (args.out, args.run_dir) if folder is not None]
    if len(given) > 1:
        raise ConfigError("--out and --run name the same run folder: give one of them")
    if not given and args.dataset is None:
        raise ConfigError(
            "give the run folder as --out RUN (the --out of maflow train), or --dataset NAME for out/NAME"
        )
    paths = locate_run(given[0] if given else run_folder(None, args.dataset), args.dataset)
    checkpoint = paths.best if args.checkpoint == "best" else paths.latest
    if not paths.root.is_dir():
        raise CheckpointError(
            f"{paths.root} is not a run folder: give --out RUN, the --out of a maflow train run"
        )
    if not checkpoint.exists():  # a folder in its place is reported by the loader, as such
        from maflow.run.command import command_line
        from maflow.run.folder import existing_run_lock

        with existing_run_lock(paths.root, command_line()):  # a live training is reported as such
            raise CheckpointError(f"no checkpoint at {checkpoint}: train first, or check --out")
    _, stored, record = load_run(paths.root, args.checkpoint)  # checks the checkpoint and its data record
    name = stored.get("dataset")
    if args.dataset is not None and name not in (None, args.dataset):
        raise ConfigError(
            f"{checkpoint} was trained on data set {name!r}, not {args.dataset!r}: drop --dataset, or check --out"
        )
    return RunPaths(paths.root, name or paths.dataset, paths.results_stem), record


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a flow on a data set",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--dataset", help="data set name (digits, mnist, ...)")
    _add_data_file_arguments(parser)
    parser.add_argument(
        "--auto",
        action="store_true",
        help="train the preset of every image data set present, each into OUT/<dataset>/ (OUT: --out, default out)",
    )
    parser.add_argument(
        "--conditional",
        action="store_true",
        help="class-conditional flow (context = one-hot label); default folder out/<dataset>_conditional_<model>/",
    )
    add_flow_training_arguments(parser)
    parser.set_defaults(run=run)


def _add_data_file_arguments(parser) -> None:
    group = parser.add_argument_group("your own data (--data PATH instead of --dataset)")
    group.add_argument(
        "--data",
        metavar="PATH",
        help="a file of rows: .npy (memory-mapped), .npz (train/val/test or one array), .csv/.tsv "
        "(header detected), .pt (a tensor), .parquet (needs pyarrow); default folder out/<file stem>/",
    )
    group.add_argument("--columns", help="data columns to use: names or 0-based numbers, comma-separated")
    group.add_argument(
        "--val-fraction", type=float, help="share of rows held out for validation (default 0.1)"
    )
    group.add_argument("--test-fraction", type=float, help="share of rows held out for test (default 0.1)")
    group.add_argument(
        "--split-seed", type=seed_int, default=0, help="seed of the split's shuffle and of --dequantize"
    )
    group.add_argument("--dequantize", action="store_true", help="integer data: fit x + U(0, 1) noise")
    group.add_argument(
        "--no-standardize",
        action="store_true",
        help="keep the columns as they are (default: training mean/std)",
    )
    group.add_argument(
        "--context", metavar="PATH", help="continuous context, one row per data row: trains p(x | c)"
    )
    group.add_argument("--context-columns", help="columns of the --context (or --labels) file to use")
    group.add_argument(
        "--labels",
        metavar="PATH",
        help="integer class labels, one per data row: trains p(x | class), one-hot",
    )
    group.add_argument(
        "--name",
        help="the run's name, in file names and the default folder out/<name>/ (default: the file's stem)",
    )


_DATA_FILE_FLAGS = (
    "columns", "val_fraction", "test_fraction", "dequantize", "no_standardize", "context",
    "context_columns", "labels", "name",
)  # fmt: skip


def _data_options(args, batch_size: int):
    from maflow.data.array_files import parse_columns
    from maflow.data.arrays import DataOptions

    return DataOptions(
        columns=parse_columns(args.columns),
        context_columns=parse_columns(args.context_columns),
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        split_seed=args.split_seed,
        dequantize=args.dequantize,
        standardize=not args.no_standardize,
        min_train_rows=batch_size,
    )


def data_run_name(args) -> str:
    """The name of a ``--data PATH`` run: ``--name``, else the file's stem."""
    from pathlib import Path

    from maflow.errors import ConfigError

    name = args.name or "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(args.data).stem)
    name = name.strip("._")
    if not name or "/" in name or name in (".", ".."):
        raise ConfigError(f"--name {args.name!r} is not a folder name: use letters, digits, '-', '_' and '.'")
    return name


def _run_own_data(args) -> int:
    from dataclasses import asdict

    from maflow.data.arrays import load_data_file
    from maflow.train.flag_parsing import print_config
    from maflow.train.flow import train_flow

    name = data_run_name(args)
    config = _resolved_config(args, name, run_folder(args.out, name), preset="default")
    options = _data_options(args, config.batch_size)
    if args.print_config:
        return print_config({**asdict(config), "data": args.data, "data_options": asdict(options)})
    dataset = load_data_file(args.data, options, context=args.context, labels=args.labels, name=name)
    if (dataset.origin or {}).get("whole_numbers") and not args.dequantize:
        print(
            f"maflow train: note: every training value in {args.data} is a whole number; a continuous density "
            "on integers can grow without bound: pass --dequantize (fits x + U(0, 1)) unless they are measurements"
        )
    out = run_folder(args.out, name)
    result = train_flow(
        config, out, resume=args.resume, overwrite=args.overwrite, echo=not args.quiet, dataset=dataset
    )
    given = " given the context" if dataset.context is not None else ""
    print(
        f"{name}: best validation log-likelihood{given} {result['val_log_likelihood']:.3f} "
        f"± {result['val_log_likelihood_2se'] or float('nan'):.3f} nats (data units) at epoch "
        f"{result['best_epoch']}; results in {result['checkpoint'].rsplit('/checkpoints', 1)[0]}"
    )
    return 0


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
    from maflow.train.distributed import cleanup

    status = _run(args)
    cleanup()  # under torchrun: leave the process group together, not one rank at a time
    return status


def _run(args) -> int:
    from maflow.errors import ConfigError
    from maflow.models.registry import MODELS
    from maflow.train.flag_parsing import print_config
    from maflow.train.flags import check_run_arguments

    if args.model is not None and args.model not in MODELS:
        raise ConfigError(f"unknown model {args.model!r}: choose one of {', '.join(sorted(MODELS))}")
    if (args.auto, bool(args.dataset), args.data is not None).count(True) != 1:
        raise ConfigError("give one of --dataset NAME, --data PATH or --auto")
    if args.auto and args.conditional:
        raise ConfigError("--conditional trains one labelled data set: give --dataset NAME instead of --auto")
    check_run_arguments(args)
    if args.data is not None:
        if args.conditional:
            raise ConfigError(
                "with --data, give --context PATH (continuous) or --labels PATH (classes) instead of --conditional"
            )
        return _run_own_data(args)
    given = [flag for flag in _DATA_FILE_FLAGS if getattr(args, flag) not in (None, False)]
    if given:
        raise ConfigError(
            f"--{given[0].replace('_', '-')} is for --data PATH (a file of your own), not --dataset or --auto"
        )
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
    configs = [_resolved_config(args, name, _run_out(args, name)) for name in datasets]  # flags checked first
    if args.print_config:
        from dataclasses import asdict

        resolved = [{**asdict(c), "conditional": args.conditional} for c in configs]
        return print_config(resolved[0] if len(resolved) == 1 else resolved)
    if args.conditional:
        return _train_conditional(args, configs[0])
    from maflow.train.flow import train_flow

    for config in configs:
        out = _run_out(args, config.dataset)
        result = train_flow(
            config, out, args.data_dir, resume=args.resume, overwrite=args.overwrite, echo=not args.quiet
        )
        print(
            f"{config.dataset}: best validation log-likelihood {result['val_log_likelihood']:.3f} "
            f"± {result['val_log_likelihood_2se'] or float('nan'):.3f} at epoch {result['best_epoch']}; "
            f"results in {result['checkpoint'].rsplit('/checkpoints', 1)[0]}"
        )
    return 0


def _train_conditional(args, config) -> int:
    from maflow.train.conditional import conditional_run_name, print_test_line, train_conditional_flow

    out = run_folder(args.out, conditional_run_name(config.dataset, config.model))
    results = train_conditional_flow(
        config, out, args.data_dir, echo=not args.quiet, resume=args.resume, overwrite=args.overwrite
    )
    print_test_line(results["test"])
    return 0


def _run_out(args, dataset: str):
    """The run folder of ``dataset``'s training (with ``--conditional``, of its conditional run)."""
    from pathlib import Path

    if args.auto:
        return Path(args.out or "out") / dataset
    if args.conditional:
        from maflow.configs import load_preset
        from maflow.train.conditional import conditional_run_name

        model = args.model or load_preset(dataset, None)[0]["model"]
        return run_folder(args.out, conditional_run_name(dataset, model))
    return run_folder(args.out, dataset)


def _resolved_config(args, name: str, out, preset: str | None = None):
    """The run's configuration; with ``--resume``, the run's own settings (its checkpoint's) plus the flags."""
    from maflow.train.flow_config import flow_config_from_args, resumed_config

    resumed = resumed_config(out, name) if args.resume else None
    return flow_config_from_args(args, name, preset, resumed)
