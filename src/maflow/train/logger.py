"""A training logger: human-readable ``training.log`` plus TensorBoard scalars."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from maflow.utils.optional import has_tensorboard

__all__ = ["TrainingLogger"]


class TrainingLogger:
    """Appends timestamped lines to ``log_file`` (and echoes them) and writes TensorBoard scalars.

    The log file is opened in append mode so that a resumed run continues the same file.
    TensorBoard is optional: pass ``tensorboard_dir=None`` to skip it; without the ``tensorboard``
    package it is skipped after a one-line notice (``pip install 'maflow[tensorboard]'``).

    Arguments:
        log_file: Path of the text log (parents are created).
        tensorboard_dir: Directory of the TensorBoard event files, or ``None``.
        echo: Whether to print each line to stdout as well.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     with TrainingLogger(Path(d) / "logs" / "training.log", echo=False) as log:
        ...         log.info("epoch 1")
        ...         log.scalars({"loss/train": 1.5}, step=1)
        ...     "epoch 1" in (Path(d) / "logs" / "training.log").read_text()
        True
    """

    def __init__(self, log_file: str | Path, tensorboard_dir: str | Path | None = None, echo: bool = True):
        self.log_file = Path(log_file)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.log_file, "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self.echo = echo
        self._writer = None
        if tensorboard_dir is not None and has_tensorboard():  # optional: one line says what to install
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(tensorboard_dir))

    def info(self, message: str, echo: bool | None = None) -> None:
        """Appends ``message`` to the log; prints it too when ``echo`` (default: the logger's)."""
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        self._file.write(line + "\n")
        self._file.flush()
        if self.echo if echo is None else echo:
            print(message, file=sys.stdout, flush=True)

    def scalars(self, values: dict, step: int) -> None:
        if self._writer is not None:
            for tag, value in values.items():
                self._writer.add_scalar(tag, float(value), step)
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if not self._file.closed:
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
