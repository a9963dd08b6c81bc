"""Training checkpoints: model config, weights, optimiser, RNG states and data fingerprint.

Shared by training and evaluation (both sit above this run layer).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import numpy as np
import torch

import maflow
from maflow.errors import CheckpointError, ConfigError
from maflow.utils.io import load_checkpoint, save_checkpoint

__all__ = [
    "FORMAT_VERSION",
    "data_fingerprint",
    "same_data",
    "get_rng_states",
    "set_rng_states",
    "make_checkpoint",
    "save_training_checkpoint",
    "load_training_checkpoint",
    "check_compatible",
    "check_structure",
    "rebuild_model",
    "load_classifier",
]

# Bump when the layout below changes incompatibly; loaders refuse newer formats.
FORMAT_VERSION = 1


def data_fingerprint(array) -> dict:
    """Shape and a SHA-256 of every value (``sha256_all``), besides the older hash of the first
    and last rows (``sha256``) that checkpoints written before kept alone.

    Example:
        >>> fp = data_fingerprint(np.zeros((10, 3), dtype=np.float32))
        >>> fp["shape"], len(fp["sha256"]), len(fp["sha256_all"])
        ([10, 3], 64, 64)
    """
    array = np.ascontiguousarray(np.asarray(array))
    rows = np.concatenate([array[:8], array[-8:]]) if array.ndim and len(array) > 16 else array
    digest = hashlib.sha256(np.ascontiguousarray(rows, dtype=np.float32).tobytes()).hexdigest()
    whole = hashlib.sha256(np.ascontiguousarray(array, dtype=np.float32).data).hexdigest()
    return {"shape": list(array.shape), "sha256": digest, "sha256_all": whole}


def same_data(stored: dict | None, current: dict) -> bool:
    """Whether two fingerprints describe the same data: every value when both hashed every value,
    else (a checkpoint from before ``sha256_all``) the shape and the first and last rows.
    """
    if not isinstance(stored, dict):
        return False
    keys = (
        ("shape", "sha256_all") if "sha256_all" in stored and "sha256_all" in current else ("shape", "sha256")
    )
    return all(stored.get(key) == current.get(key) for key in keys)


def get_rng_states(generator: torch.Generator | None = None) -> dict:
    """The torch, numpy and Python RNG states (and a data-order generator's) as plain values.

    numpy's key array is stored as a tensor so that ``torch.load(weights_only=True)`` can
    read it back.
    """
    name, keys, position, has_gauss, cached = np.random.get_state()
    version, python_state, gauss = random.getstate()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(np.asarray(keys).astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(python_state), "gauss": gauss},
    }
    if generator is not None:
        states["data_order"] = generator.get_state()
    return states


def set_rng_states(states: dict, generator: torch.Generator | None = None) -> None:
    """Restores what :func:`get_rng_states` returned."""
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state(
        (n["name"], n["keys"].numpy().astype(np.uint32), n["position"], n["has_gauss"], n["cached_gaussian"])
    )
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if generator is not None and "data_order" in states:
        generator.set_state(states["data_order"])


def make_checkpoint(
    model: torch.nn.Module,
    model_name: str,
    model_config: dict,
    dataset: str,
    fingerprint: dict,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    generator: torch.Generator | None = None,
    training_config: dict | None = None,
    family: str = "flow",
    **progress,
) -> dict:
    """Everything needed to rebuild the model and continue training exactly.

    ``model_config`` holds the keyword arguments that rebuild the model through the registry
    (``features`` and ``context_features`` included); ``training_config`` the run's settings
    (plain values); ``progress`` the loop's counters (``epoch``, ``step``, ``best_value``,
    ``patience_counter``, ``batch_in_epoch``, ...): plain numbers only; ``family`` the kind of
    model (``flow``, ``mnf``; the binary MADE and the VAE write ``made`` and ``vae`` in theirs).
    """
    return {
        "format_version": FORMAT_VERSION,
        "maflow_version": maflow.__version__,
        "family": family,
        "model_name": model_name,
        "model_config": dict(model_config),
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict() if optimizer is not None else None,
        "scheduler_state": scheduler.state_dict() if scheduler is not None else None,
        "dataset": dataset,
        "data_fingerprint": dict(fingerprint),
        "rng_states": get_rng_states(generator),
        "training_config": dict(training_config or {}),
        "progress": dict(progress),
    }


def save_training_checkpoint(path: str | Path, checkpoint: dict) -> None:
    """Writes ``checkpoint`` atomically (a killed run leaves the previous file intact); rank 0 only."""
    if _rank() == 0:
        save_checkpoint(path, checkpoint)


def _rank() -> int:
    # torch.distributed directly: the run layer sits below maflow.train (and its distributed helpers).
    dist = torch.distributed
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def check_compatible(
    checkpoint: dict,
    path: str | Path,
    model_name: str | None = None,
    model_config: dict | None = None,
    dataset: str | None = None,
    fingerprint: dict | None = None,
) -> None:
    """Raises :class:`CheckpointError` naming the first mismatch with what the caller expects."""
    if not isinstance(checkpoint, dict) or "model_state" not in checkpoint:
        raise CheckpointError(f"{path} is not a maflow training checkpoint")
    check_structure(checkpoint, path)
    version = checkpoint.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {version}, newer than this maflow understands "
            f"({FORMAT_VERSION}); upgrade maflow"
        )
    for key, wanted, what, flag in (
        ("dataset", dataset, "was trained on data set", "--dataset"),
        ("model_name", model_name, "holds model", "--model"),
    ):
        if wanted is not None and checkpoint.get(key) != wanted:
            raise CheckpointError(
                f"{path} {what} {checkpoint.get(key)!r}, not {wanted!r}; use another --out or the matching {flag}"
            )
    if model_config is not None:
        stored = checkpoint.get("model_config", {})
        for key in sorted(set(stored) | set(model_config)):
            if stored.get(key) != model_config.get(key):
                raise CheckpointError(
                    f"{path} holds a model with {key}={stored.get(key)!r}, but this run asks for "
                    f"{key}={model_config.get(key)!r}; leave the flag out to continue this run as it "
                    "was built, or use another --out"
                )
    if fingerprint is not None and not same_data(checkpoint.get("data_fingerprint"), fingerprint):
        raise CheckpointError(
            f"{path} was trained on different data ({_data_difference(checkpoint.get('data_fingerprint'), fingerprint)}): "
            "restore the files it was trained on to resume it, or start a new run with another --out"
        )


def _data_difference(stored, current: dict) -> str:
    """What differs between two data fingerprints, in a few words."""
    if not isinstance(stored, dict):
        return "the checkpoint holds no data fingerprint"
    if stored.get("shape") != current.get("shape"):
        return f"shape {stored.get('shape')} then, {current.get('shape')} now"
    return f"same shape {current.get('shape')}, different values"


# Counters of the training loop that must be whole numbers >= 0 when present.
_PROGRESS_COUNTS = ("epoch", "step", "batch_in_epoch", "best_epoch", "patience_counter", "nan_rollbacks")


def check_structure(checkpoint: dict, path: str | Path) -> None:
    """Raises :class:`CheckpointError` naming the first entry of the wrong type or out of range.

    Checked before anything is built from the checkpoint: the weights are a dict of tensors,
    the model's name a string, its config a dict whose ``features`` is a whole number >= 1 and
    ``context_features`` one or ``None``, ``progress`` a dict whose counters are whole numbers
    >= 0 and whose ``best_value`` a number or ``None``, ``format_version`` a whole number.

    Example:
        >>> try:
        ...     check_structure({"model_state": {}, "progress": [1, 2, 3]}, "best.pth")
        ... except CheckpointError as error:
        ...     print(str(error)[:43])
        best.pth: progress is a list, not a dict of
    """

    def refuse(what: str) -> CheckpointError:
        return CheckpointError(
            f"{path}: {what}; the checkpoint is damaged or was not written by this maflow: "
            "train again (--overwrite), or use another checkpoint"
        )

    state = checkpoint.get("model_state")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise refuse("model_state is not a dict of named tensors")
    version = checkpoint.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise refuse(f"format_version is {version!r}, not a whole number")
    if "model_name" in checkpoint and not isinstance(checkpoint["model_name"], str):
        raise refuse(f"model_name is {checkpoint['model_name']!r}, not a name")
    config = checkpoint.get("model_config", {})
    if not isinstance(config, dict):
        raise refuse(f"model_config is a {type(config).__name__}, not a dict")
    progress = checkpoint.get("progress", {})
    if not isinstance(progress, dict):
        raise refuse(f"progress is a {type(progress).__name__}, not a dict of counters")
    for key in _PROGRESS_COUNTS:
        value = progress.get(key, 0)
        if value is None and key == "best_epoch":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise refuse(f"progress {key}={value!r} is not a whole number >= 0")
    best = progress.get("best_value")
    if best is not None and (isinstance(best, bool) or not isinstance(best, int | float)):
        raise refuse(f"progress best_value={best!r} is not a number")
    if not isinstance(progress.get("history", []), list):
        raise refuse("progress history is not a list")


def _model_sizes(checkpoint: dict, path: str | Path) -> tuple[int, int | None]:
    # features and context_features of a flow checkpoint, checked (rebuild_model's first step).
    config = checkpoint.get("model_config")
    if not isinstance(config, dict) or "features" not in config:
        raise CheckpointError(
            f"{path}: its model_config has no 'features' (the data dimension), so the model cannot be "
            "rebuilt; the checkpoint is damaged or not a flow's: train again (--overwrite), or use another checkpoint"
        )
    sizes: list[int | None] = []
    for key in ("features", "context_features"):
        value = config.get(key)
        if value is None and key == "context_features":
            sizes.append(None)
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise CheckpointError(
                f"{path}: model_config {key}={value!r} is not a whole number >= 1; the checkpoint is "
                "damaged: train again (--overwrite), or use another checkpoint"
            )
        sizes.append(value)
    features = sizes[0]
    assert features is not None  # checked above
    return features, sizes[1]


def load_training_checkpoint(path: str | Path, **expected) -> dict:
    """Loads a checkpoint safely (no pickle code runs) and checks it against ``expected``.

    ``expected`` takes the keyword arguments of :func:`check_compatible`.
    """
    checkpoint = load_checkpoint(path)
    check_compatible(checkpoint, path, **expected)
    return checkpoint


def rebuild_model(checkpoint: dict, path: str | Path = "checkpoint") -> torch.nn.Module:
    """Builds the registered model from the stored name and config and loads the weights.

    Everything is checked before the model is built (:func:`check_structure`, the sizes in
    :func:`maflow.utils.sizes.check_sizes`, the family, ``features``), and the weights after they
    are loaded: a checkpoint whose weights hold NaN or infinity is refused, since every density
    and sample of it would be NaN.
    """
    from maflow.models.registry import build_model
    from maflow.utils.sizes import check_sizes

    check_structure(checkpoint, path)
    check_sizes(checkpoint, path)
    family = checkpoint.get("family", "flow")
    if family != "flow":
        command = {"made": "maflow made", "mnf": "maflow mnf", "vae": "maflow vae", "toy": "maflow toy"}.get(
            str(family)
        )
        how = f"the {command} commands" if command else "the command that trained it"
        raise CheckpointError(
            f"{path} holds a {family!r} model, not a flow: use it with {how} (or evaluate/sample "
            "--run RUN without --dataset), or give the flow's run folder"
        )
    features, context_features = _model_sizes(checkpoint, path)
    config = {
        k: v for k, v in checkpoint["model_config"].items() if k not in ("features", "context_features")
    }
    try:
        model = build_model(checkpoint.get("model_name", ""), features, context_features, **config)
    except ConfigError as error:  # an unknown model or option: the file, not the user's flags, is wrong
        raise CheckpointError(
            f"{path}: its model cannot be rebuilt ({error}); it was written by another maflow version or "
            "is damaged: train again (--overwrite), or use another checkpoint"
        ) from None
    expected = model.state_dict()
    for name, tensor in checkpoint["model_state"].items():  # before load hooks read any of them
        if name in expected and tuple(tensor.shape) != tuple(expected[name].shape):
            raise CheckpointError(
                f"{path}: the stored weights do not fit model {checkpoint['model_name']!r} (size mismatch "
                f"for {name}: {tuple(tensor.shape)} stored, {tuple(expected[name].shape)} in the model); "
                "train again (--overwrite), or use another checkpoint"
            )
    try:
        model.load_state_dict(checkpoint["model_state"])
    except (RuntimeError, ValueError, TypeError, KeyError) as error:
        raise CheckpointError(
            f"{path}: the stored weights do not fit model {checkpoint['model_name']!r} "
            f"({_first_mismatch(error)})"
        ) from None
    for name, tensor in checkpoint["model_state"].items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{path}: the weight {name} holds NaN or infinite values, so every density and sample "
                "would be NaN (the run diverged); use an earlier checkpoint, or train again with a lower --lr"
            )
    return model


def load_classifier(checkpoint_path: str | Path, dataset: str = "mnist_grey") -> torch.nn.Module:
    """Rebuilds a trained MNF LeNet or LeNet from its checkpoint (safe load: no pickled code runs).

    A run folder stands for its ``checkpoints/latest.pth``, or the ``checkpoint.pt`` of a run
    written before the shared layout.
    """
    from maflow.models.mnf import build_classifier

    checkpoint_path = Path(checkpoint_path)
    if checkpoint_path.is_dir():
        latest = checkpoint_path / "checkpoints" / "latest.pth"
        checkpoint_path = latest if latest.is_file() else checkpoint_path / "checkpoint.pt"

    checkpoint = load_training_checkpoint(checkpoint_path, dataset=dataset)
    model = build_classifier(checkpoint["model_name"], **checkpoint["model_config"])
    model.load_state_dict(checkpoint["model_state"])
    return model.eval()


def _first_mismatch(error: Exception) -> str:
    # load_state_dict's first line only says "Error(s) in loading state_dict"; the next names the tensor.
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return (lines[1] if len(lines) > 1 else lines[0] if lines else "")[:200]
