"""Atomic writes and safe (pickle-free) checkpoint loading."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from maflow.errors import CheckpointError, MaflowError, StorageError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, stale temporaries are left alone
    fcntl = None  # type: ignore[assignment]

# mkstemp creates files readable by the owner only; results should get the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)

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
    The temporary file (``.<name>.<random>.tmp``) is locked while it is written, so that
    :func:`maflow.run.folder.remove_own_temporaries` can tell the leftovers of a killed writer
    from a live one. A failing write (full disk,
    read-only file system) raises :class:`~maflow.errors.StorageError` naming ``path``.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _storage_error(path, error) from None
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fchmod(file.fileno(), 0o666 & ~_UMASK)
            os.fsync(file.fileno())
            if fcntl is not None:
                os.replace(tmp, path)  # still locked: a cleaner never sees an unlocked live file
        if fcntl is None:
            os.replace(tmp, path)
        _sync_directory(path.parent)
    except BaseException as error:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(error, OSError) and not isinstance(error, MaflowError):
            raise _storage_error(path, error) from error
        raise


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk (matters on power loss).
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync directories; the data itself is synced
    finally:
        os.close(fd)


def _storage_error(path: Path, error: OSError) -> StorageError:
    reason = error.strerror or str(error)
    advice = "free some space" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "check the permissions"
    return _with_errno(
        StorageError(
            f"cannot write {path}: {reason}; any previous version of the file is intact. "
            f"{advice[0].upper() + advice[1:]} or choose another output directory"
        ),
        error.errno,
    )


def _with_errno(error: StorageError, number: int | None) -> StorageError:
    error.errno = number
    return error


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
    """Creates ``path`` and checks that a file can be written there, before any long job starts.

    A few bytes are written and synced, so that a full disk fails here and not hours later.
    """
    path = Path(path)
    probe = None
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".maflow-write-test.", suffix=".tmp")
        try:
            os.write(fd, b"maflow write test\n")
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as error:
        message = f"cannot write to {path}: {error.strerror or error}; choose another --out"
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            message += " or free some space"
        raise _with_errno(StorageError(message), error.errno) from None
    finally:
        if probe is not None:
            Path(probe).unlink(missing_ok=True)
    return path
