"""The sizes a checkpoint's configuration asks for, checked against the tensors it stores.

A checkpoint rebuilds its model from a stored configuration before the stored weights are
loaded into it. A crafted or damaged configuration (``hidden_features=2**31`` in a 1 KB file)
would make the rebuild allocate hundreds of gigabytes before the weights are ever compared.
Every layer width, depth and count of a model needs at least that many stored values (a
hidden layer of H units has H biases, K layers have K weight matrices), so a size larger than
the number of values the checkpoint stores cannot be genuine: it is refused before anything is
built, in the time it takes to add up the tensor sizes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from maflow.errors import CheckpointError

__all__ = ["SIZE_KEYS", "CONFIG_KEYS", "stored_values", "check_sizes"]

# Configuration keys that size a model (widths, depths, counts of parts); seeds and training
# settings are not sizes.
SIZE_KEYS = frozenset(
    {
        "features", "context_features", "hidden_features", "num_hidden_layers", "num_layers",
        "hidden_channels", "num_bins", "num_components", "num_blocks", "steps", "levels",
        "sigmoid_units", "num_vectors", "latent_features", "flow_steps", "flow_length",
    }
)  # fmt: skip
# Where the checkpoints of each family keep the model's configuration.
CONFIG_KEYS = ("model_config", "config", "hparams")
# ... and its weights.
STATE_KEYS = ("model_state", "model")


def stored_values(checkpoint: dict) -> int | None:
    """The number of values in the checkpoint's model weights, or ``None`` if it has none to count.

    Example:
        >>> stored_values({"model_state": {"w": torch.zeros(3, 4), "b": torch.zeros(3)}})
        15
    """
    for key in STATE_KEYS:
        state = checkpoint.get(key)
        if isinstance(state, dict):
            if not all(isinstance(v, torch.Tensor) for v in state.values()):
                return None  # not weights at all: the loaders' structure checks say so
            return sum(int(v.numel()) for v in state.values())
    return None


def _sizes(config, prefix: str = "") -> Iterator[tuple[str, object]]:
    # (key path, value) of every size key, in nested sections too (a VAE's hparams has sections).
    if not isinstance(config, dict):
        return
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _sizes(value, f"{name}.")
        elif key in SIZE_KEYS:
            yield name, value


def check_sizes(checkpoint: dict, path) -> None:
    """Raises :class:`CheckpointError` if a size in the configuration cannot fit the stored weights.

    Every size must be a whole number (or a list of them; ``None`` where a size is optional) from
    0 to the number of stored values.

    Example:
        >>> ck = {"model_config": {"features": 3, "hidden_features": 2**31},
        ...       "model_state": {"w": torch.zeros(8, 3)}}
        >>> try:
        ...     check_sizes(ck, "best.pth")
        ... except CheckpointError as error:
        ...     print(str(error)[:62])
        best.pth: model_config.hidden_features=2147483648 is larger th
    """
    total = stored_values(checkpoint)
    if total is None:
        return
    for section in CONFIG_KEYS:
        for name, value in _sizes(checkpoint.get(section), f"{section}."):
            values = value if isinstance(value, list | tuple) else [value]
            for item in values:
                if item is None:
                    continue
                if isinstance(item, bool) or not isinstance(item, int | float) or not _whole(item):
                    raise CheckpointError(
                        f"{path}: {name}={value!r} is not a whole number; the checkpoint is damaged or "
                        "was not written by maflow: train again, or use another checkpoint"
                    )
                if item < 0 or item > total:
                    raise CheckpointError(
                        f"{path}: {name}={item} is larger than the {total} values stored in the "
                        "checkpoint could hold; it is damaged or crafted: train again, or use another checkpoint"
                        if item > 0
                        else f"{path}: {name}={item} is negative; the checkpoint is damaged or crafted: "
                        "train again, or use another checkpoint"
                    )


def _whole(value: int | float) -> bool:
    return isinstance(value, int) or (math.isfinite(value) and value == int(value))
