"""The parsing that every command's flags share: argparse types, ``--set KEY=VALUE`` and ``--print-config``.

Numbers (:func:`finite_float`, negative ones too: :func:`accept_negative_numbers`), seeds
(:func:`seed_int`), data folders (:func:`data_folder`), ``--set`` settings applied to a
configuration's sections (:func:`parse_setting`, :func:`apply_settings`) and a dataclass of
settings from the flags of the same names (:func:`config_from_args`).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys

from maflow.errors import ConfigError

__all__ = [
    "SEED_RANGE",
    "RESERVED_MODEL_OPTIONS",
    "finite_float",
    "seed_int",
    "data_folder",
    "accept_negative_numbers",
    "key_value",
    "parse_setting",
    "apply_settings",
    "refuse_reserved",
    "pick",
    "config_from_args",
    "print_config",
]


# Seeds every RNG takes (torch, numpy after reduction modulo 2**32, Python). Negative seeds are
# refused: torch takes them, but numpy's generators do not, and one range for every command is
# simpler to state than which command folds a sign.
SEED_RANGE = (0, 2**63 - 1)
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
    """An argparse type: a whole number that every RNG accepts, from 0 to 2**63 - 1.

    Example:
        >>> seed_int("42")
        42
        >>> try:
        ...     seed_int("-1")
        ... except argparse.ArgumentTypeError as error:
        ...     print(error)
        must be a whole number from 0 to 2**63 - 1, got -1
    """
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not SEED_RANGE[0] <= value <= SEED_RANGE[1]:
        raise argparse.ArgumentTypeError(f"must be a whole number from 0 to 2**63 - 1, got {text}")
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


def key_value(text: str) -> tuple[str, object]:
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
            refuse_reserved(name, f"--set {key}")
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


def refuse_reserved(key: str, flag: str) -> None:
    """Refuses a model option that the data set or ``--conditional`` sets (one ConfigError line)."""
    if key in RESERVED_MODEL_OPTIONS:
        raise ConfigError(f"{flag}: {key} is not a model option, {RESERVED_MODEL_OPTIONS[key]}; drop it")


def print_config(config: dict) -> int:
    """``--print-config``: the resolved configuration as JSON on stdout; returns the exit status 0."""
    json.dump(config, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return 0
