"""The constructor arguments of a model, kept so that a checkpoint can rebuild it."""

from __future__ import annotations

__all__ = ["constructor_config"]


def constructor_config(arguments: dict) -> dict:
    """Plain-valued copy of ``locals()`` taken first thing in a model's ``__init__``.

    Sequences become lists, so the result survives a ``weights_only`` checkpoint round trip.

    Example:
        >>> def build(features, hidden_features=(8, 8)):
        ...     return constructor_config(locals())
        >>> build(3)
        {'features': 3, 'hidden_features': [8, 8]}
    """
    config = {name: value for name, value in arguments.items() if name not in ("self", "__class__")}
    return {
        name: list(value) if isinstance(value, tuple | range) else value for name, value in config.items()
    }
