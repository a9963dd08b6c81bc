"""Progress bars of long passes (evaluation, importance sampling, HAIS, data preparation).

Shown only when stderr is a terminal (never in the log of a background run) and not with
``--quiet``; training epochs use :class:`maflow.train.progress.EpochProgress`, built the same way.
"""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

__all__ = ["bar_enabled", "progress_bar", "ProgressCallback"]


def bar_enabled(enabled: bool | None = None) -> bool:
    """``None``: on when stderr is a terminal; ``True``/``False`` force it."""
    return sys.stderr.isatty() if enabled is None else bool(enabled)


def progress_bar(total: int, desc: str, enabled: bool | None = None, unit: str = "it", **options) -> tqdm:
    """A tqdm bar that stays out of logs: off unless stderr is a terminal (or ``enabled``)."""
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not bar_enabled(enabled),
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
        **options,
    )


class ProgressCallback:
    """A ``progress(done, total)`` callback drawing a bar (as the evaluators take it).

    Example:
        >>> with ProgressCallback("IS", enabled=False) as progress:
        ...     progress(50, 100)
        ...     progress(100, 100)
        >>> progress.done
        100
    """

    def __init__(self, desc: str, enabled: bool | None = None, unit: str = "examples"):
        self.desc, self.enabled, self.unit = desc, enabled, unit
        self.bar: Any = None  # a tqdm bar once the first call gives the total
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = progress_bar(total, self.desc, self.enabled, unit=self.unit)
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
