"""The model and training flags of the commands that train a flow (``maflow train``, with or
without ``--conditional``), and how they become the model builder's options."""

from __future__ import annotations

import argparse

from maflow.train.flag_parsing import data_folder, key_value, refuse_reserved
from maflow.train.flags import add_run_arguments

__all__ = [
    "MODEL_FLAGS",
    "TRAIN_FLAGS",
    "add_model_arguments",
    "model_options_from_args",
    "add_flow_training_arguments",
    "run_folder",
]

# Flag -> model-builder keyword; only flags the user sets are passed on.
MODEL_FLAGS = {
    "num_layers": "num_layers",
    "hidden_features": "hidden_features",
    "hidden_layers": "num_hidden_layers",
    "activation": "activation",
    "hidden_degrees": "hidden_degrees",
    "order": "order",
    "bn_placement": "batch_norm_placement",
}
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "weight_decay", "grad_clip", "patience")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model flags shared by commands that build a flow (also accepted with underscores)."""
    group = parser.add_argument_group("model (defaults from the data set's preset)")
    group.add_argument("--model", help="registered model name (maf, made, ...)")
    group.add_argument("--num-layers", "--num_layers", type=int, help="flow layers K (MADEs in a MAF)")
    group.add_argument(
        "--hidden-features",
        "--hidden-dim",
        "--hidden_dim",
        dest="hidden_features",
        type=int,
        help="hidden units per layer of each MADE (--hidden-dim: the same)",
    )
    group.add_argument("--hidden-layers", "--hidden_layers", type=int, help="hidden layers per MADE")
    group.add_argument("--activation", help="hidden activation (relu, tanh, ...)")
    group.add_argument("--hidden-degrees", choices=["sequential", "random"], help="MADE hidden degrees")
    group.add_argument("--order", choices=["alternate", "random"], help="input orders between MADEs")
    group.add_argument(
        "--bn-placement", choices=["every", "between"], help="batch norm after every MADE or only between"
    )
    group.add_argument(
        "--model-option",
        action="append",
        default=[],
        type=key_value,
        metavar="KEY=VALUE",
        help="any other keyword of the model builder (JSON values), repeatable; the same as --set model.KEY=VALUE",
    )


def model_options_from_args(args, preset_options: dict) -> dict:
    """The preset's model options with every flag the user set on top."""
    options = dict(preset_options)
    for flag, key in MODEL_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            options[key] = value
    for key, _ in args.model_option:
        refuse_reserved(key, f"--model-option {key}")
    options.update(dict(args.model_option))
    return options


def add_flow_training_arguments(parser: argparse.ArgumentParser) -> None:
    """Every flag of a flow training (``maflow train``, with or without ``--conditional``) but the data set."""
    add_model_arguments(parser)
    group = parser.add_argument_group("flow training (defaults from the data set's preset)")
    group.add_argument("--weight-decay", "--weight_decay", type=float, help="L2 coefficient")
    choices = (  # flag, choices (the first is the default), help
        (
            "--weight-decay-mode",
            ["l2", "decoupled"],
            "l2: Adam's coupled decay (= the MAF code's loss term); decoupled: AdamW",
        ),
        (
            "--bn-stats",
            ["dataset", "running"],
            "batch-norm statistics at validation: whole training set (MAF code) or running averages",
        ),
        (
            "--nan-policy",
            ["rollback", "stop"],
            "on NaN/Inf in the loss, gradients or weights: roll back to the epoch's start, or stop",
        ),
    )
    # Defaults of None here and below: the preset (or, with --resume, the run's own checkpoint)
    # fills what a flag leaves out, so a flag is known to be given exactly when it is not None.
    for flag, values, text in choices:
        group.add_argument(flag, choices=values, help=f"{text} (default {values[0]})")
    group.add_argument("--grad-clip", "--grad_clip", type=float, help="max gradient norm, 0 = off")
    group.add_argument(
        "--num-samples", "--num_samples", type=int, help="samples drawn at the end (default 64)"
    )
    group.add_argument("--no-progress", action="store_true", help="no progress bar (--quiet also drops them)")
    group.add_argument(
        "--nan-lr-factor", type=float, help="learning-rate factor at each rollback (default 0.5)"
    )
    group.add_argument("--max-rollbacks", type=int, help="rollbacks before stopping (default 3)")
    group.add_argument(
        "--compile",
        action="store_true",
        help="run the training loss through torch.compile (backend: --set train.compile_backend=NAME, "
        "default inductor; aot_eager needs no C compiler)",
    )
    add_run_arguments(
        parser,
        seed=None,
        out={"help": "the run folder (default: out/<name>, the data set's or the --data run's name)"},
        set_help="any setting: train.KEY (lr, grad_clip, ...) or model.KEY (a model-builder keyword), TOML values",
    )
    parser.add_argument(
        "--data-dir",
        "--data_dir",
        type=data_folder,
        help="data directory (default: $MAFLOW_DATA or ~/.cache/maflow)",
    )


def run_folder(out, name: str):
    """The run folder of a flow training: ``--out`` itself, or ``out/<name>`` when it is not given.

    Example:
        >>> run_folder(None, "digits").as_posix(), run_folder("runs/a", "digits").as_posix()
        ('out/digits', 'runs/a')
    """
    from pathlib import Path

    return Path("out") / name if out is None else Path(out)
