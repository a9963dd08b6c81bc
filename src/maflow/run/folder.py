"""Safe run folders: one writer at a time, artefact detection, and clean-up of our own files only.

A run folder holds the files of one run (checkpoints, logs, results, samples). Three rules keep
it intact:

* **One writer.** :class:`RunLock` holds an advisory lock (``fcntl.flock``) on ``.maflow.lock``
  inside the folder for as long as a command writes there; the lock file records the process
  ID, host and command. A second writer (another training, a ``--resume``, an ``--overwrite``,
  an evaluation) is refused with one line naming that process. The kernel drops the lock when
  its process dies, even by SIGKILL, so a killed run never leaves the folder locked; the lock
  file goes when its holder releases it.
* **Any artefact marks a run.** :func:`existing_artefacts` lists the checkpoints and results
  files that are there, not only ``latest.pth``.
* **Refusal before deletion.** :func:`prepare_run_folder` refuses a folder that holds a run
  unless ``--resume`` or ``--overwrite`` says what to do with it; commands call it after every
  flag is checked and the data are loaded, so a mistyped flag never costs a run.
* **Exact names.** :func:`remove_own_temporaries` deletes only the temporary files that our
  atomic writes leave when killed (``.<name>.<random>.tmp``, ``name`` one of the files the
  command writes in that folder), and :func:`remove_own_files` only the files named by the
  caller; neither looks into sub-folders it was not given, so a user's ``notes.tmp`` or
  ``.plot.tmp`` and anything outside the folder survive.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from maflow.errors import MaflowError, StorageError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are not protected against a second writer
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "LOCK_NAME",
    "RESUME_AND_OVERWRITE",
    "WRITE_PROBE",
    "RunInUseError",
    "RunLock",
    "existing_artefacts",
    "temporary_target",
    "remove_own_temporaries",
    "remove_own_files",
    "prepare_run_folder",
    "existing_run_lock",
    "check_layout",
]

LOCK_NAME = ".maflow.lock"
RESUME_AND_OVERWRITE = (
    "--resume continues the run in the folder and --overwrite deletes it: pass only one of them"
)
# ensure_writable_dir's probe file: `.maflow-write-test.<random>.tmp`.
WRITE_PROBE = "maflow-write-test"
# What atomic_write's mkstemp names a temporary: `.<target>.<random>.tmp`.
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.(?P<random>[A-Za-z0-9_]+)\.tmp")


class RunInUseError(MaflowError):
    """Another live process writes to the run folder."""


class RunLock:
    """Exclusive advisory lock on a run folder, held from :meth:`acquire` to :meth:`release`.

    The lock is not re-entrant: a second :class:`RunLock` on the same folder is refused even in
    the same process. The lock file is removed on release (while still locked); a writer that
    opened it just before checks, once it holds the lock, that the path still names the file it
    locked, and otherwise starts again, so two writers never hold two different lock files. A
    killed holder leaves the file behind, unlocked: the next writer takes it over.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with RunLock(d, command="maflow train --dataset digits"):
        ...         try:
        ...             RunLock(d).acquire()
        ...         except RunInUseError as error:
        ...             print(str(error).split(" is ")[1][:9])
        in use by
    """

    def __init__(self, folder: str | os.PathLike, command: str | None = None):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self.command = command
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        if fcntl is None or self._fd is not None:
            return self
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _cannot_write(self.folder, error) from None
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise _cannot_write(self.folder, error) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # EWOULDBLOCK: another process holds the lock
                holder = _read_holder(fd)
                os.close(fd)
                raise RunInUseError(_in_use_message(self.folder, holder)) from None
            except OSError as error:  # a file system without flock (some network mounts): go on unlocked
                os.close(fd)
                print(
                    f"maflow: warning: cannot lock {self.folder} ({error.strerror or error}); "
                    "a second writer on this run would not be detected",
                    file=sys.stderr,
                )
                return self
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed it between our open and our lock: take the new one
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command or "",
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                self.path.unlink()  # still locked: a waiting writer sees the inode change and retries
            except OSError:
                pass
            os.close(fd)  # closing the only descriptor of the open file drops the lock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _cannot_write(folder: Path, error: OSError) -> StorageError:
    return StorageError(f"cannot write to {folder}: {error.strerror or error}; choose another --out")


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _read_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def _in_use_message(folder: Path, holder: dict) -> str:
    pid = holder.get("pid")
    who = f"process {pid}" if pid else "another process"
    if holder.get("host"):
        who += f" on {holder['host']}"
    command = " ".join(str(holder.get("command") or "").split())  # one line, whatever it held
    if command:
        who += f" ({command[:160]}{'...' if len(command) > 160 else ''})"
    return f"{folder} is in use by {who}; wait for it to finish (or stop it), or choose another --out"


def existing_run_lock(folder: str | os.PathLike, command: str | None = None):
    """:class:`RunLock` on ``folder`` if it exists; else a no-op (the caller then reports "no run").

    For commands that read a run and write beside it (evaluations, samples): locking first
    means that a live training is reported as such, not as a missing checkpoint, and that no
    folder (nor lock file) is created where there is no run.
    """
    import contextlib

    return RunLock(folder, command) if Path(folder).is_dir() else contextlib.nullcontext()


def existing_artefacts(candidates: Iterable[str | os.PathLike]) -> list[Path]:
    """The files among ``candidates`` that exist: any one of them means the folder holds a run."""
    return [Path(path) for path in candidates if Path(path).is_file()]


def temporary_target(name: str) -> str | None:
    """The file a temporary of our atomic writes was going to become, or ``None`` if not ours.

    Example:
        >>> temporary_target(".latest.pth.k2j_9x1a.tmp"), temporary_target(".plot.tmp")
        ('latest.pth', None)
        >>> temporary_target("notes.tmp") is None
        True
    """
    match = _TEMPORARY.fullmatch(name)
    return match.group("target") if match else None


def _matches(name: str, names: Iterable[str | re.Pattern]) -> bool:
    for expected in names:
        if isinstance(expected, re.Pattern):
            if expected.fullmatch(name):
                return True
        elif name == expected:
            return True
    return False


def remove_own_temporaries(folder: str | os.PathLike, names: Iterable[str | re.Pattern]) -> list[Path]:
    """Deletes the temporaries that killed atomic writes of ``names`` left directly in ``folder``.

    ``names`` are the exact file names (or compiled patterns of file names, for families such as
    ``samples-s4-seed3.npy``) that the command writes into ``folder``; the write-probe name is
    always included. Only ``folder`` itself is searched, not its sub-folders. A temporary still
    locked by a live writer is kept. Returns the deleted paths.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     for name in (".latest.pth.abc123.tmp", ".plot.tmp", "notes.tmp", ".other.pth.abc123.tmp"):
        ...         _ = (Path(d) / name).write_bytes(b"x")
        ...     [p.name for p in remove_own_temporaries(d, ["latest.pth"])], sorted(
        ...         p.name for p in Path(d).iterdir())
        (['.latest.pth.abc123.tmp'], ['.other.pth.abc123.tmp', '.plot.tmp', 'notes.tmp'])
    """
    folder = Path(folder)
    names = [*names, WRITE_PROBE]
    removed: list[Path] = []
    if fcntl is None or not folder.is_dir():
        return removed
    for candidate in sorted(folder.iterdir()):
        target = temporary_target(candidate.name)
        if target is None or not _matches(target, names) or candidate.is_symlink() or not candidate.is_file():
            continue
        try:
            fd = os.open(candidate, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its writer just renamed it into place
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live writer holds it
        else:
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
        finally:
            os.close(fd)
    return removed


def remove_own_files(folder: str | os.PathLike, names: Iterable[str | re.Pattern]) -> list[Path]:
    """Deletes the files directly in ``folder`` whose names are among ``names`` (exact, or patterns).

    For ``--overwrite``: only what the command itself writes goes, never another file and never
    anything in a sub-folder that was not named. Returns the deleted paths.
    """
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    names = list(names)
    for candidate in sorted(folder.iterdir()):
        if _matches(candidate.name, names) and (candidate.is_file() or candidate.is_symlink()):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def prepare_run_folder(
    folder: str | os.PathLike,
    artefacts: Iterable[str | os.PathLike],
    own: dict,
    resume: bool = False,
    overwrite: bool = False,
    resume_from: str | os.PathLike | None = None,
) -> None:
    """Checks what a run folder holds and clears what must go; call it with the folder locked.

    ``artefacts`` are the files that mark a run (checkpoints, results), ``own`` maps each folder
    to the names of the files the command writes there (see :func:`remove_own_temporaries`),
    ``resume_from`` is the checkpoint that ``--resume`` continues (``None``: the command cannot
    resume). Stale temporaries of ``own`` files go first. A folder holding any artefact is
    refused unless ``resume`` (which needs ``resume_from``) or ``overwrite`` (which then removes
    the ``own`` files, by their exact names) is given.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = (Path(d) / "best.pth").write_bytes(b"a run")
        ...     try:
        ...         prepare_run_folder(d, [Path(d) / "latest.pth", Path(d) / "best.pth"], {},
        ...                            resume=True, resume_from=Path(d) / "latest.pth")
        ...     except MaflowError as error:
        ...         print(str(error).split(": ", 1)[1])
        pass --overwrite to start over, or choose another --out
    """
    from maflow.errors import ConfigError

    folder = Path(folder)
    artefacts = list(artefacts)
    check_layout(folder, own, artefacts)
    for directory, names in own.items():
        remove_own_temporaries(directory, names)  # left by a killed run; live writers' files are locked
    found = existing_artefacts(artefacts)

    def listed() -> str:
        return ", ".join(str(_relative(path, folder)) for path in found)

    if found and not (resume or overwrite):
        what = "pass --resume to continue it, --overwrite" if resume_from is not None else "pass --overwrite"
        raise ConfigError(
            f"{folder} already holds a run ({listed()}): {what} to start over, or choose another --out"
        )
    if resume and found and (resume_from is None or not Path(resume_from).is_file()):
        name = _relative(Path(resume_from), folder) if resume_from is not None else "checkpoint"
        raise ConfigError(
            f"{folder} holds a run ({listed()}) but no {name} to resume from: "
            "pass --overwrite to start over, or choose another --out"
        )
    if overwrite:
        for directory, names in own.items():  # a stale best checkpoint or evaluation must not survive
            remove_own_files(directory, names)


def check_layout(
    folder: str | os.PathLike, own: dict, artefacts: Iterable[str | os.PathLike] = (), folders=()
) -> None:
    """Refuses a run folder where a file sits in place of one of its folders, or the reverse.

    ``own``'s keys and ``folders`` must be folders (or not exist yet), ``artefacts`` files (or
    not exist yet). Checked before any work, so that a ``checkpoints`` file or a
    ``results.json`` folder is one line at the start, not a failure at the end of a run.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = (Path(d) / "checkpoints").write_text("not a folder")
        ...     try:
        ...         check_layout(d, {Path(d) / "checkpoints": ["best.pth"]})
        ...     except StorageError as error:
        ...         print(str(error).split(": ", 1)[1])
        a file where the run keeps a folder: move it away, or choose another --out
    """
    folder = Path(folder)
    for directory in [*own, *folders]:
        for path in [Path(directory), *Path(directory).parents]:
            if path.exists() and not path.is_dir():
                raise StorageError(
                    f"{path}: a file where the run keeps a folder: move it away, or choose another --out"
                )
            if path == folder or path == path.parent:
                break
    for artefact in artefacts:
        if Path(artefact).is_dir():
            raise StorageError(
                f"{artefact}: a folder where the run keeps a file: move it away, or choose another --out"
            )


def _relative(path: Path, folder: Path) -> Path:
    try:
        return path.relative_to(folder)
    except ValueError:
        return path
