"""SIGINT and SIGTERM during training: finish the step, keep it in ``latest.pth``, say how to resume.

:class:`StopSignals` replaces the two handlers while a training loop runs: the first signal only
sets a flag that the loop checks after each optimiser step; the loop then writes its
checkpoint and raises :class:`TrainingInterrupted`, whose message is the one line the command
prints (which epoch and step were kept, and the command that resumes). The command exits with
128 + the signal number (130 for SIGINT, 143 for SIGTERM). A second Ctrl-C while the
checkpoint is being written stops at once (``KeyboardInterrupt``).
"""

from __future__ import annotations

import signal
import threading

from maflow.errors import MaflowError

__all__ = [
    "TrainingInterrupted",
    "StopSignals",
    "interrupted_message",
    "signal_name",
    "run_reporting",
    "out_of_memory_message",
]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class TrainingInterrupted(MaflowError):
    """Training stopped on a signal after saving its state; ``exit_code`` is 128 + the signal."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + int(signum)


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def interrupted_message(signum: int, kept: str, resume: str) -> str:
    """One line: what stopped the run, what was kept, and the command that resumes.

    Example:
        >>> interrupted_message(2, "epoch 3, step 45 in out/digits/checkpoints/latest.pth",
        ...                     "maflow train --dataset digits --resume")
        'stopped by SIGINT; kept epoch 3, step 45 in out/digits/checkpoints/latest.pth; resume with: maflow train --dataset digits --resume'
    """
    return f"stopped by {signal_name(signum)}; kept {kept}; resume with: {resume}"


class StopSignals:
    """Context manager: SIGINT and SIGTERM set :attr:`received` instead of stopping the process.

    Only the main thread can install handlers; elsewhere (or with ``enabled=False``) it does
    nothing and signals keep their usual effect. The previous handlers come back on exit.

    Example:
        >>> import os
        >>> with StopSignals() as stop:
        ...     os.kill(os.getpid(), signal.SIGTERM)
        ...     stop.received == signal.SIGTERM
        True
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.received: int | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        self.received = signum

    def __enter__(self) -> StopSignals:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


_ALLOCATION_FAILURES = ("can't allocate memory", "out of memory", "not enough memory")


def out_of_memory_message(error: BaseException) -> str | None:
    """One line for an allocation that failed (host or GPU), ``None`` for any other error.

    Example:
        >>> out_of_memory_message(RuntimeError("DefaultCPUAllocator: can't allocate memory: "
        ...                                    "you tried to allocate 25600000000 bytes."))[:40]
        'out of memory (an allocation of 25.6 GB)'
        >>> out_of_memory_message(RuntimeError("shape mismatch")) is None
        True
    """
    import re

    text = str(error)
    if not isinstance(error, MemoryError) and not any(words in text for words in _ALLOCATION_FAILURES):
        return None
    size = re.search(r"allocate (\d+) bytes", text) or re.search(r"allocate ([\d.]+ [KMGT]iB)", text)
    what = ""
    if size:
        amount = size.group(1)
        what = (
            f" (an allocation of {int(amount) / 1e9:.1f} GB)"
            if amount.isdigit()
            else f" (an allocation of {amount})"
        )
    return (
        f"out of memory{what}: ask for less at once (a smaller --num-samples, --batch-size or model) "
        "or free memory; every file written before this point is complete"
    )


def run_reporting(prog: str, function, *args) -> int:
    """Runs a command's ``function(*args)``: an error or an interrupt becomes one line and an exit status.

    A :class:`TrainingInterrupted` prints what was kept and how to resume (130 / 143), any other
    :class:`~maflow.errors.MaflowError` prints ``PROG: error: ...`` (2), a bare Ctrl-C outside a
    training loop prints ``PROG: interrupted ...`` and that every written file is complete (130), and an ``OSError`` about a file (a file
    where the run keeps a folder, a full disk) one line from
    :func:`maflow.utils.io.file_system_message` (2).
    """
    import sys

    try:
        return int(function(*args) or 0)
    except TrainingInterrupted as error:  # the checkpoint is written; say how to resume
        print(f"{prog}: {error}", file=sys.stderr)
        return error.exit_code
    except MaflowError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader of stdout went away (`maflow ... | head`): stop quietly
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 141  # 128 + SIGPIPE, what the shell reports for a program killed by the pipe
    except OSError as error:  # the file system refused something no command checks for itself
        from maflow.utils.io import file_system_message

        message = file_system_message(error)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as error:  # torch.OutOfMemoryError is a RuntimeError
        message = out_of_memory_message(error)
        if message is None:
            raise
        print(f"{prog}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            f"{prog}: interrupted (Ctrl-C) before it finished; the files it wrote are complete "
            "(atomic writes): run the command again to finish (a training: with --resume)",
            file=sys.stderr,
        )
        return 130
