"""The constructor arguments of a model, kept so that a checkpoint can rebuild it."""

from __future__ import annotations

__all__ = ["constructor_config", "layer_orders"]


def constructor_config(arguments: dict) -> dict:
    """Plain-valued copy of ``locals()`` taken first thing in a model's ``__init__``.

    Sequences become lists, so the result survives a ``weights_only`` checkpoint round trip.
    A catch-all ``**..._options`` argument is merged in, so that ``Model(**config)`` rebuilds.

    Example:
        >>> def build(features, hidden_features=(8, 8)):
        ...     return constructor_config(locals())
        >>> build(3)
        {'features': 3, 'hidden_features': [8, 8]}
        >>> def build_more(features, **made_options):
        ...     return constructor_config(locals())
        >>> build_more(3, residual=True)
        {'features': 3, 'residual': True}
    """
    config = {}
    for name, value in arguments.items():
        if name.endswith("_options") and isinstance(value, dict):
            config.update(value)
        elif name not in ("self", "__class__"):
            config[name] = value
    return {
        name: list(value) if isinstance(value, tuple | range) else value for name, value in config.items()
    }


def layer_orders(order: str, num_layers: int) -> list[str]:
    """The MADE order of every layer of a stack: ``"alternate"`` (natural, reversed, ...) or ``"random"``.

    Example:
        >>> layer_orders("alternate", 3)
        ['natural', 'reversed', 'natural']
    """
    if num_layers < 1:
        raise ValueError(f"num_layers must be >= 1, got {num_layers}")
    if order not in ("alternate", "random"):
        raise ValueError(f"unknown order {order!r}: use alternate or random")
    return [
        "random" if order == "random" else ("natural", "reversed")[layer % 2] for layer in range(num_layers)
    ]
