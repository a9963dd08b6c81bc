"""A per-epoch progress bar that shows the loss and the throughput in samples per second."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

__all__ = ["EpochProgress"]


class EpochProgress:
    """Wraps tqdm for one epoch of ``num_batches`` minibatches.

    ``enabled=None`` shows the bar only when stderr is a terminal (not in logs of
    background runs); ``True`` or ``False`` force it.

    Example:
        >>> with EpochProgress(2, epoch=1, enabled=False) as bar:
        ...     bar.update(loss=1.0, batch_size=100)
        ...     bar.update(loss=0.5, batch_size=100)
        >>> bar.samples
        200
    """

    def __init__(self, num_batches: int, epoch: int, enabled: bool | None = None, initial: int = 0):
        if enabled is None:
            enabled = sys.stderr.isatty()
        self.bar = tqdm(
            total=num_batches,
            initial=initial,
            desc=f"epoch {epoch}",
            disable=not enabled,
            leave=False,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        self.samples = 0
        self.start = time.perf_counter()

    @property
    def samples_per_second(self) -> float:
        return self.samples / max(time.perf_counter() - self.start, 1e-9)

    def update(self, loss: float, batch_size: int) -> None:
        self.samples += batch_size
        self.bar.update(1)
        if not self.bar.disable:
            self.bar.set_postfix(
                loss=f"{loss:.3f}", samples_s=f"{self.samples_per_second:.0f}", refresh=False
            )

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
