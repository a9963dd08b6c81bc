"""Flags shared by every training command.

Every training command (``maflow train``, ``made train``, ``vae train``, ``mnf train``, ``toy``,
``maflow train --conditional``) takes the same run flags with the same meaning
(:func:`add_run_arguments`): ``--out``, ``--device``, ``--threads``, ``--tf32``, ``--seed``, ``--epochs``,
``--batch-size``, ``--lr``, ``--patience``, ``--resume``, ``--overwrite``, ``--limit-train``,
``--print-config``, ``--quiet`` and ``--set KEY=VALUE``, the one generic override. They live with
training, below the command line, so that a trainer with its own entry point never imports
:mod:`maflow.cli`.

Their parsing (argparse types, ``--set``, ``--print-config``) is in :mod:`~maflow.train.flag_parsing`,
the flags of a flow training in :mod:`~maflow.train.flow_flags`. The names of both are still
found here, where older scripts import them from.
"""

from __future__ import annotations

import argparse

from maflow.errors import ConfigError
from maflow.run.device import DEVICE_HELP, TF32_HELP, THREADS_HELP
from maflow.train.flag_parsing import (
    RESERVED_MODEL_OPTIONS,
    SEED_RANGE,
    accept_negative_numbers,
    apply_settings,
    config_from_args,
    data_folder,
    finite_float,
    parse_setting,
    pick,
    print_config,
    seed_int,
)

__all__ = [
    "SEED_RANGE",
    "RESERVED_MODEL_OPTIONS",
    "finite_float",
    "seed_int",
    "accept_negative_numbers",
    "data_folder",
    "add_run_arguments",
    "apply_settings",
    "parse_setting",
    "pick",
    "config_from_args",
    "print_config",
]


def add_run_arguments(
    parser: argparse.ArgumentParser,
    *,
    out: dict,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    patience: int | None = None,
    seed: int | None = 0,
    epochs_help: str = "last epoch (early stopping may end sooner)",
    set_help: str = "any other setting, repeatable (TOML values)",
) -> argparse._ArgumentGroup:
    """The run flags every training command shares (see the module's docstring).

    ``out`` holds the keywords of ``--out`` (its default or ``required``, and its help); the others
    are this command's defaults (``None``: its preset decides).
    """
    group = parser.add_argument_group("run (the same on every training command)")
    group.add_argument("--out", **out)
    group.add_argument("--device", default="auto", help=DEVICE_HELP)
    group.add_argument("--threads", type=int, help=THREADS_HELP)
    group.add_argument("--seed", type=seed_int, default=seed, help="seeds the weights and the data order")
    group.add_argument("--epochs", type=int, default=epochs, help=epochs_help)
    group.add_argument("--batch-size", "--batch_size", type=int, default=batch_size)
    # A finite number here (NaN is a type error); its range is the command's own one-line check.
    group.add_argument("--lr", type=finite_float, default=lr, help="Adam learning rate")
    group.add_argument(
        "--patience", type=int, default=patience, help="validations without improvement before stopping"
    )
    switches = (
        ("--resume", "continue the run in the run folder, exactly"),
        (
            "--overwrite",
            "start over: remove this command's files in the run folder (never others; not with --resume)",
        ),
        ("--print-config", "print the resolved configuration (preset plus flags) and exit"),
        ("--quiet", "no progress bars and no per-epoch lines on the terminal"),
        ("--tf32", TF32_HELP),
    )
    for flag, text in switches:
        group.add_argument(flag, action="store_true", help=text)
    group.add_argument(
        "--limit-train", type=int, metavar="N", help="train on the first N training examples (smoke runs)"
    )
    group.add_argument(
        "--set",
        dest="settings",
        action="append",
        default=[],
        type=parse_setting,
        metavar="KEY=VALUE",
        help=set_help,
    )
    accept_negative_numbers(parser)
    return group


def check_run_arguments(args) -> None:
    """The checks every training command makes before any work (one line each)."""
    from maflow.run.folder import RESUME_AND_OVERWRITE

    if args.resume and args.overwrite:
        raise ConfigError(RESUME_AND_OVERWRITE)
    if args.limit_train is not None and args.limit_train < 1:
        raise ConfigError(f"--limit-train must be at least 1, got {args.limit_train}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")


# The flags of a flow training moved to maflow.train.flow_flags, which imports add_run_arguments
# from here; they are found there on first use, so that neither module needs the other to load.
_FLOW_FLAGS = (
    "MODEL_FLAGS",
    "TRAIN_FLAGS",
    "add_flow_training_arguments",
    "add_model_arguments",
    "model_options_from_args",
    "run_folder",
)


def __getattr__(name: str):
    if name in _FLOW_FLAGS:
        from maflow.train import flow_flags

        return getattr(flow_flags, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
