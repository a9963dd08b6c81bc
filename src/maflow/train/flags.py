"""Flags shared by every training command, and the model flags of the commands that train a flow.

Every training command (``maflow train``, ``made train``, ``vae train``, ``mnf train``, ``toy``,
``maflow train --conditional``) takes the same run flags with the same meaning
(:func:`add_run_arguments`): ``--out``, ``--device``, ``--threads``, ``--tf32``, ``--seed``, ``--epochs``,
``--batch-size``, ``--lr``, ``--patience``, ``--resume``, ``--overwrite``, ``--limit-train``,
``--print-config``, ``--quiet`` and ``--set KEY=VALUE``, the one generic override. They live with
training, below the command line, so that a trainer with its own entry point never imports
:mod:`maflow.cli`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys

from maflow.errors import ConfigError
from maflow.run.device import DEVICE_HELP, TF32_HELP, THREADS_HELP

__all__ = [
    "MODEL_FLAGS",
    "SEED_RANGE",
    "RESERVED_MODEL_OPTIONS",
    "finite_float",
    "seed_int",
    "accept_negative_numbers",
    "data_folder",
    "TRAIN_FLAGS",
    "add_model_arguments",
    "add_run_arguments",
    "apply_settings",
    "model_options_from_args",
    "parse_setting",
    "pick",
    "config_from_args",
    "print_config",
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


# Seeds every RNG takes (torch, numpy after reduction, Python): the signed 64-bit range.
SEED_RANGE = (-(2**63), 2**63 - 1)
# Model-builder keywords that the data set (and --conditional) set, never an option.
RESERVED_MODEL_OPTIONS = {
    "features": "the data set sets it (its dimension)",
    "context_features": "--conditional sets it (the number of classes)",
}
# argparse reads "-1e-3" as an unknown option; numbers in any float notation are values.
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|nan)$", re.IGNORECASE)


def finite_float(text: str) -> float:
    """An argparse type: a finite number (NaN and infinity are refused with the flag's name).

    Example:
        >>> finite_float("1e-3")
        0.001
    """
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def seed_int(text: str) -> int:
    """An argparse type: a whole number that every RNG accepts (the signed 64-bit range).

    Example:
        >>> seed_int("42")
        42
        >>> try:
        ...     seed_int("18446744073709551616")
        ... except argparse.ArgumentTypeError as error:
        ...     print(str(error)[:47])
        must be a whole number from -2**63 to 2**63 - 1
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be a whole number from -2**63 to 2**63 - 1, got {text}")
    return value


def data_folder(text: str) -> str:
    """An argparse type for ``--data-dir``: a folder, or a path that does not exist yet (not a file).

    Example:
        >>> data_folder("/no/such/folder")
        '/no/such/folder'
    """
    from pathlib import Path

    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise argparse.ArgumentTypeError(
            f"{text} is a file; give the folder that holds the data sets' folders (mnist/, miniboone/, ...)"
        )
    return text


def accept_negative_numbers(parser: argparse.ArgumentParser) -> None:
    """Lets ``parser`` read ``--lr -1e-3`` as a value (then refused by the flag's range), not an option.

    argparse takes only ``-1`` and ``-0.5`` as numbers; exponents and ``-inf`` looked like
    unknown options and gave "expected one argument". Every float flag of ``parser`` defined so
    far also refuses NaN and infinity (:func:`finite_float`), and its ``--data-dir`` a file
    (:func:`data_folder`).
    """
    if hasattr(parser, "_negative_number_matcher") and not getattr(
        parser, "_has_negative_number_optionals", []
    ):
        parser._negative_number_matcher = _NEGATIVE_NUMBER
    for action in parser._actions:
        if action.type is float:
            action.type = finite_float
        elif action.dest == "data_dir" and action.type is None:
            action.type = data_folder


def _key_value(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        parsed = json.loads(value)  # numbers, true/false, null, [lists]
    except ValueError:
        parsed = value
    return key.strip().replace("-", "_"), parsed


def parse_setting(text: str) -> tuple[str, object]:
    """``[section.]key=value`` of ``--set``; the value in TOML syntax, a bare word being a string.

    Example:
        >>> parse_setting("model.flow_steps=4"), parse_setting("lr=1e-3"), parse_setting("activation=tanh")
        (('model.flow_steps', 4), ('lr', 0.001), ('activation', 'tanh'))
    """
    from maflow.configs import tomllib

    key, sep, value = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key or key.startswith(".") or key.endswith("."):
        raise argparse.ArgumentTypeError(f"--set expects [section.]key=value, got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value.strip()  # a bare word: a string


def apply_settings(config: dict, settings, open_sections=()) -> dict:
    """Applies ``--set`` pairs to ``config`` (``{section: {key: value}}``, changed in place).

    ``section.key`` names its section; a bare ``key`` must belong to exactly one section. Keys a
    section does not hold are refused, except in ``open_sections`` (such as a model builder's
    keywords, which the builder itself checks); elsewhere a value must be of its default's kind
    (``lr=abc`` is refused where ``lr`` is a number).

    Example:
        >>> apply_settings({"train": {"lr": 0.1}, "model": {}}, [("lr", 0.5), ("model.depth", 2)], ["model"])
        {'train': {'lr': 0.5}, 'model': {'depth': 2}}
    """
    for key, value in settings:
        section, dot, name = key.rpartition(".")
        if dot:
            if section not in config:
                raise ConfigError(
                    f"--set {key}: no section {section!r}; use one of {', '.join(config)} (or a bare key)"
                )
        else:
            holders = [s for s, values in config.items() if name in values]
            if len(holders) != 1:
                known = sorted({k for values in config.values() for k in values})
                what = "is in several sections" if holders else "is not a setting of this command"
                raise ConfigError(f"--set {key}: {what}; write section.key, or use one of {', '.join(known)}")
            section = holders[0]
        if section == "model":
            _refuse_reserved(name, f"--set {key}")
        if name not in config[section] and section not in open_sections:
            raise ConfigError(
                f"--set {key}: {section} has no setting {name!r}; use one of {', '.join(sorted(config[section]))}"
            )
        if section not in open_sections:
            _check_type(key, config[section].get(name), value)
        config[section][name] = value
    return config


def _check_type(key: str, current, value) -> None:
    # A setting keeps the kind of its default: lr=abc would reach the checks as a string.
    if current is None:
        return
    kinds = (
        (bool, "true or false", lambda v: isinstance(v, bool)),
        (int, "a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
        (float, "a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
        (str, "a word", lambda v: isinstance(v, str)),
        (list, "a list", lambda v: isinstance(v, list)),
    )
    for kind, what, accepts in kinds:
        if isinstance(current, kind) and not (kind is int and isinstance(current, bool)):
            if not accepts(value):
                raise ConfigError(f"--set {key}: takes {what} (like {current!r}), got {value!r}")
            return


def pick(args, *names: str, **renamed: str) -> dict:
    """Keyword arguments from parsed flags: ``names`` as they are, ``renamed`` as keyword=flag.

    Example:
        >>> pick(argparse.Namespace(lr=0.1, samples=4, seed=0), "lr", ensemble_masks="samples")
        {'lr': 0.1, 'ensemble_masks': 4}
    """
    return {
        **{name: getattr(args, name) for name in names},
        **{k: getattr(args, v) for k, v in renamed.items()},
    }


def config_from_args(cls, args, sections: dict | None = None, **renamed: str):
    """A dataclass of settings from the flags of the same names (``renamed``: field=flag), then ``--set``.

    ``sections`` maps a section name to the fields it holds (for ``--set model.KEY``); the other
    fields form the ``train`` section.
    """
    from dataclasses import asdict, fields

    names = [f.name for f in fields(cls) if f.name not in renamed and hasattr(args, f.name)]
    config = cls(**pick(args, *names, **renamed))
    if getattr(args, "settings", None):
        values = asdict(config)
        grouped = {name: {k: values.pop(k) for k in keys} for name, keys in (sections or {}).items()}
        grouped["train"] = values
        apply_settings(grouped, args.settings)
        config = cls(**{k: v for section in grouped.values() for k, v in section.items()})
    return config


def run_folder(out, name: str):
    """The run folder of a flow training: ``--out`` itself, or ``out/<name>`` when it is not given.

    Example:
        >>> run_folder(None, "digits").as_posix(), run_folder("runs/a", "digits").as_posix()
        ('out/digits', 'runs/a')
    """
    from pathlib import Path

    return Path("out") / name if out is None else Path(out)


def print_config(config: dict) -> int:
    """``--print-config``: the resolved configuration as JSON on stdout; returns the exit status 0."""
    json.dump(config, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0


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
        type=_key_value,
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
        _refuse_reserved(key, f"--model-option {key}")
    options.update(dict(args.model_option))
    return options


def _refuse_reserved(key: str, flag: str) -> None:
    if key in RESERVED_MODEL_OPTIONS:
        raise ConfigError(f"{flag}: {key} is not a model option, {RESERVED_MODEL_OPTIONS[key]}; drop it")


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
