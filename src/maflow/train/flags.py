"""Model and training flags shared by the commands that train a flow (``maflow train``, the
class-conditional trainer): their names, and how they become model-builder keywords.

They live with training, below the command line, so that a trainer with its own entry point
never imports :mod:`maflow.cli`.
"""

from __future__ import annotations

import argparse
import json

__all__ = ["MODEL_FLAGS", "TRAIN_FLAGS", "add_model_arguments", "model_options_from_args"]


# Flag -> model-builder keyword; only flags the user sets are passed on.
MODEL_FLAGS = {
    "num_layers": "num_layers",
    "hidden_dim": "hidden_features",
    "hidden_layers": "num_hidden_layers",
    "activation": "activation",
    "hidden_degrees": "hidden_degrees",
    "order": "order",
    "bn_placement": "batch_norm_placement",
}
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "weight_decay", "grad_clip", "patience")


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)  # numbers, true/false, null, [lists]
    except ValueError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """Model flags shared by commands that build a model (also accepted with underscores)."""
    group = parser.add_argument_group("model (defaults from the data set's preset)")
    group.add_argument("--model", help="registered model name (maf, made, ...)")
    group.add_argument("--num-layers", "--num_layers", type=int, help="flow layers K (MADEs in a MAF)")
    group.add_argument("--hidden-dim", "--hidden_dim", type=int, help="hidden units per layer of each MADE")
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
        type=_key_value,
        metavar="KEY=VALUE",
        help="any other keyword of the model builder (JSON values), repeatable",
    )


def model_options_from_args(args, preset_options: dict) -> dict:
    """The preset's model options with every flag the user set on top."""
    options = dict(preset_options)
    for flag, key in MODEL_FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            options[key] = value
    options.update(dict(args.model_option))
    return options
