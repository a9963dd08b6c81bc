"""Atomic writes and safe (pickle-free) checkpoint loading."""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
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
    "free_space",
    "file_system_message",
]


def atomic_write(path: str | os.PathLike, write) -> None:
    """Calls ``write(file)`` on a temporary file beside ``path``, fsyncs it and renames it over ``path``.

    A reader sees the old file or the new one, never half of one, even if the process is killed.
    The temporary file (``.<name>.<random>.tmp``) is locked while it is written, so that
    :func:`maflow.run.folder.remove_own_temporaries` can tell the leftovers of a killed writer
    from a live one. A failing write (full disk, read-only file system) raises
    :class:`~maflow.errors.StorageError` naming ``path`` and the free space, also when the writer
    (``torch.save``'s zip writer) turns the file system's ``OSError`` into its own
    ``RuntimeError("... unexpected pos ...")``; the previous version of ``path`` stays as it was.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     atomic_write(Path(d) / "a.txt", lambda f: f.write(b"hello"))
        ...     (Path(d) / "a.txt").read_bytes()
        b'hello'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as error:
        raise _storage_error(path, error) from None
    recorder = None
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with os.fdopen(fd, "wb") as file:
            recorder = _RecordingFile(file)
            write(recorder)
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
        if isinstance(error, MaflowError) or not isinstance(error, Exception):
            raise
        cause = _os_error(error, recorder.failure if recorder is not None else None)
        if cause is not None:
            raise _storage_error(path, cause) from error
        raise


class _RecordingFile:
    """The file a writer writes to, keeping the ``OSError`` of a failed write.

    ``torch.save``'s zip writer reports a failed write as ``RuntimeError: ... unexpected pos``;
    the recorded error says what really happened (a full disk, a quota).
    """

    def __init__(self, file) -> None:
        self._file = file
        self.failure: OSError | None = None

    def write(self, data):
        try:
            return self._file.write(data)
        except OSError as error:
            self.failure = error
            raise

    def __getattr__(self, name):
        return getattr(self._file, name)


def _os_error(error: BaseException, recorded: OSError | None) -> OSError | None:
    """The file-system error behind ``error``: itself, a recorded write failure, or one in its chain."""
    if isinstance(error, OSError):
        return error
    if recorded is not None:
        return recorded
    seen = set()
    link = error.__cause__ or error.__context__
    while link is not None and id(link) not in seen:
        if isinstance(link, OSError):
            return link
        seen.add(id(link))
        link = link.__cause__ or link.__context__
    return None


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
    full = error.errno in (errno.ENOSPC, errno.EDQUOT)
    advice = "free some space" if full else "check the permissions"
    return _with_errno(
        StorageError(
            f"cannot write {path}: {reason} ({free_space(path.parent)} free there); any previous version "
            f"of the file is intact. {advice[0].upper() + advice[1:]} or choose another output directory"
        ),
        error.errno,
    )


def free_space(directory: str | os.PathLike) -> str:
    """The free space of the file system holding ``directory`` (or its nearest existing parent), readable.

    Example:
        >>> free_space("/").split()[-1] in ("B", "KB", "MB", "GB", "TB")
        True
    """
    directory = Path(directory)
    while not directory.exists() and directory != directory.parent:
        directory = directory.parent
    try:
        free = float(shutil.disk_usage(directory).free)
    except OSError:
        return "unknown space"
    for unit in ("B", "KB", "MB", "GB"):
        if free < 1024:
            return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
        free /= 1024
    return f"{free:.1f} TB"


def _with_errno(error: StorageError, number: int | None) -> StorageError:
    error.errno = number
    return error


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode()))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Writes ``obj`` as strict JSON, atomically: NaN and infinity become ``null``.

    Python's ``json`` would write the tokens ``NaN`` and ``Infinity``, which jq, JavaScript and
    most other readers refuse; a value that is not a finite number (the standard error of a
    single point, the log-likelihood of a diverged model) is ``null`` instead.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     write_json(Path(d) / "r.json", {"mean": 1.5, "error_2se": float("nan")})
        ...     json.loads((Path(d) / "r.json").read_text())
        {'error_2se': None, 'mean': 1.5}
    """
    text = json.dumps(_finite_or_null(obj), indent=2, sort_keys=True, allow_nan=False, default=_json_number)
    atomic_write_text(path, text + "\n")


def _json_number(value: Any) -> float | None:
    number = float(value)  # numpy scalars and one-element tensors; anything else is a TypeError
    return number if math.isfinite(number) else None


def _finite_or_null(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {key: _finite_or_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite_or_null(value) for value in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def save_checkpoint(path: str | os.PathLike, checkpoint: dict) -> None:
    """Saves a dict of tensors and plain Python values atomically."""
    atomic_write(path, lambda f: torch.save(checkpoint, f))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Loads a checkpoint with ``weights_only=True``: a crafted pickle cannot run code.

    A missing path, a folder, an empty or unreadable file, anything but a dict, and a
    configuration asking for sizes that the stored weights cannot hold
    (:func:`maflow.utils.sizes.check_sizes`) give one :class:`~maflow.errors.CheckpointError`.
    """
    from maflow.utils.sizes import check_sizes

    path = Path(path)
    if path.is_dir():
        raise CheckpointError(
            f"{path} is a folder, not a checkpoint file: move it away (and train again), or check --out"
        )
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: train first, or check --out")
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CheckpointError(f"cannot read {path}: {error.strerror or error}") from None
    if size == 0:
        raise CheckpointError(
            f"{path} is empty (0 bytes), not a checkpoint: a write was cut short or the file was "
            "replaced; train again (--overwrite), or restore the file"
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # corrupt file, or a pickle that holds more than tensors and plain values
        reason = (str(error).strip().splitlines() or [""])[0][:200]
        raise CheckpointError(
            f"cannot load {path} safely ({type(error).__name__}{': ' + reason if reason else ''}); "
            "it is corrupt or not a maflow checkpoint"
        ) from None
    if not isinstance(checkpoint, dict):
        raise CheckpointError(
            f"{path} holds a {type(checkpoint).__name__}, not a maflow checkpoint; train again, or check --out"
        )
    check_sizes(checkpoint, path)
    return checkpoint


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
        full = error.errno in (errno.ENOSPC, errno.EDQUOT)
        where = f" ({free_space(path)} free there)" if full else ""
        message = f"cannot write to {path}: {error.strerror or error}{where}; choose another --out"
        if full:
            message += " or free some space"
        raise _with_errno(StorageError(message), error.errno) from None
    finally:
        if probe is not None:
            Path(probe).unlink(missing_ok=True)
    return path


def file_system_message(error: OSError) -> str | None:
    """One line saying what a file-system error means and what to do, or ``None`` if it is not one.

    For errors that reach a command without a message of their own: a file where the run keeps a
    folder (``checkpoints`` or ``tensorboard`` as a file), a folder where it keeps a file
    (``logs/training.log`` as a folder), a full disk, missing permissions.

    Example:
        >>> file_system_message(IsADirectoryError(errno.EISDIR, "Is a directory", "out/logs/training.log"))
        'out/logs/training.log is a folder where maflow reads or writes a file: move it away, or choose another --out'
        >>> file_system_message(OSError("no file involved")) is None
        True
    """
    path = error.filename
    number = error.errno
    if number in (errno.ENOSPC, errno.EDQUOT):
        where = Path(path).parent if path else Path.cwd()
        return (
            f"cannot write {path or 'a file'}: {error.strerror} ({free_space(where)} free there); "
            "free some space or choose another --out; the last checkpoint written is intact"
        )
    if path is None:
        return None
    if number == errno.EISDIR:
        return (
            f"{path} is a folder where maflow reads or writes a file: move it away, or choose another --out"
        )
    if number in (errno.EEXIST, errno.ENOTDIR):
        return (
            f"{path} (or a folder above it) is a file where maflow keeps a folder: move it away, "
            "or choose another --out"
        )
    if number in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot use {path}: {error.strerror}; check its permissions, or choose another --out"
    return f"cannot use {path}: {error.strerror or error}; check the path"
