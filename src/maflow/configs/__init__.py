"""Per-data-set training presets (the papers' hyper-parameters), read from TOML files here."""

from __future__ import annotations

import sys
from importlib import resources

from maflow.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = ["TRAIN_KEYS", "available_presets", "load_preset"]

# Keys a preset's [train] table may hold; anything else is a typo.
TRAIN_KEYS = {"model", "epochs", "batch_size", "lr", "weight_decay", "grad_clip", "patience"}


def available_presets() -> list[str]:
    """Names of the data sets with their own training preset (``<dataset>.toml``).

    Other commands keep their own configs in this folder under names that are not data sets
    (``vae_dense_cpu.toml``); only files named after a registered data set are flow presets.
    """
    from maflow.data import DATASETS

    files = resources.files(__name__).iterdir()
    return sorted(f.name[:-5] for f in files if f.name.endswith(".toml") and f.name[:-5] in DATASETS)


def _read(name: str) -> dict:
    text = resources.files(__name__).joinpath(f"{name}.toml").read_text(encoding="utf-8")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"preset {name}.toml is malformed: {error}") from None


def load_preset(dataset: str, model: str | None = None) -> tuple[dict, dict, str]:
    """Training settings and model options for ``dataset`` (and ``model``, default: the preset's).

    Returns ``(train, model_options, source)``: the ``[train]`` table with the chosen model's
    ``[models.<model>.train]`` overrides applied, the ``[model]`` table with its
    ``[models.<model>.model]`` overrides, and the preset file used (``default`` when the data
    set has none).

    Example:
        >>> train, options, source = load_preset("mnist")
        >>> train["lr"], options["hidden_features"], source
        (0.0001, 1024, 'mnist')
        >>> load_preset("mnist", model="made")[0]["lr"]
        0.001
    """
    source = dataset if dataset in available_presets() else "default"
    preset = _read(source)
    train = dict(preset.get("train", {}))
    unknown = set(train) - TRAIN_KEYS
    if unknown:
        raise ConfigError(f"preset {source}.toml has unknown [train] keys {sorted(unknown)}")
    model = model or train.get("model", "maf")
    train["model"] = model
    options = dict(preset.get("model", {}))
    override = preset.get("models", {}).get(model, {})
    train.update(override.get("train", {}))
    options.update(override.get("model", {}))
    return train, options, source
