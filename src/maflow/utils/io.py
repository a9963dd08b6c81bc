"""Atomic writes and safe (pickle-free) checkpoint loading."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from maflow.errors import CheckpointError, MaflowError

__all__ = [
    "atomic_write",
    "atomic_write_text",
    "write_json",
    "save_checkpoint",
    "load_checkpoint",
    "ensure_writable_dir",
]


def atomic_write(path: str | os.PathLike, write) -> None:
    """Calls ``write(file)`` on a temporary file beside ``path``, fsyncs it and renames it over ``path``.

    A reader sees the old file or the new one, never half of one, even if the process is killed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=float) + "\n")


def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Saves a dict of tensors and plain Python values atomically."""
    atomic_write(path, lambda f: torch.save(checkpoint, f))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Loads a checkpoint with ``weights_only=True``: a crafted pickle cannot run code."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train first, or check --out")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # corrupt file, or a pickle that holds more than tensors and plain values
        raise CheckpointError(
            f"cannot load {path} safely ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
            "it is corrupt or not a maflow checkpoint"
        ) from None


def ensure_writable_dir(path: str | os.PathLike) -> Path:
    """Creates ``path`` and checks that a file can be written there, before any long job starts."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".maflow-write-test"):
            pass
    except OSError as error:
        raise MaflowError(f"cannot write to {path}: {error.strerror}; choose another --out") from None
    return path
