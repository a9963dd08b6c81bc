"""A per-epoch progress bar that shows the loss and the throughput in samples per second."""

from __future__ import annotations

import sys
import time

from tqdm.auto import tqdm

__all__ = ["EpochProgress"]


class EpochProgress:
    """Wraps tqdm for one epoch of ``num_batches`` minibatches.

    ``enabled=None`` shows the bar only when stderr is a terminal (not in logs of
    background runs); ``True`` or ``False`` force it. The loss shown is the last one given:
    the trainer reads it back from the device only every few steps, and passes ``None`` between.

    Example:
        >>> with EpochProgress(3, epoch=1, enabled=False) as bar:
        ...     bar.update(loss=1.0, batch_size=100)
        ...     bar.update(loss=None, batch_size=100)
        ...     bar.update(loss=0.5, batch_size=100)
        >>> bar.samples, bar.loss
        (300, 0.5)
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
        self.loss: float | None = None
        self.start = time.perf_counter()

    @property
    def enabled(self) -> bool:
        """Whether the bar is shown (only then is a loss worth reading back for it)."""
        return not self.bar.disable

    @property
    def samples_per_second(self) -> float:
        return self.samples / max(time.perf_counter() - self.start, 1e-9)

    def update(self, loss: float | None, batch_size: int) -> None:
        """One more batch of ``batch_size`` examples; ``loss``: its loss, or ``None`` (not read back)."""
        self.samples += batch_size
        self.bar.update(1)
        if loss is not None:
            self.loss = loss
        if not self.bar.disable:
            shown = {"loss": f"{self.loss:.3f}"} if self.loss is not None else {}
            self.bar.set_postfix(**shown, samples_s=f"{self.samples_per_second:.0f}", refresh=False)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
