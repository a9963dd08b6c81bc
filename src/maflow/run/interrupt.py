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

__all__ = ["TrainingInterrupted", "StopSignals", "interrupted_message", "signal_name"]

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
