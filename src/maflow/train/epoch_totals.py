"""An epoch's running sums of training losses, kept on the device so that a step never waits for it."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["EpochTotals"]


class EpochTotals:
    """The sum of an epoch's batch losses times batch sizes, the examples seen, and a family's
    sums over examples (e.g. a VAE's ELBO terms), accumulated without reading the device.

    The sums are float64 tensors on the loss's device: adding ``loss.double() * n`` there
    rounds exactly as adding ``loss.item() * n`` to a Python float does (the same float64
    product, then the same float64 sum), so the epoch's numbers are bit for bit those of a loop
    that reads every loss back. :meth:`values` reads them back (one host synchronisation).

    Arguments:
        loss_sum, count, sums: The totals so far (from an interrupted epoch's checkpoint; zero
            at an epoch's start).

    Example:
        >>> totals = EpochTotals()
        >>> totals.add(torch.tensor(0.5), 10, {"kl": torch.tensor(2.0)})
        >>> totals.add(torch.tensor(0.25), 4, {"kl": 1.0})
        >>> totals.values()
        (6.0, 14, {'kl': 3.0})
    """

    def __init__(self, loss_sum: float = 0.0, count: int = 0, sums: dict | None = None):
        self.count = int(count)
        self._start = (float(loss_sum), {key: float(value) for key, value in (sums or {}).items()})
        self._loss: Tensor | None = None
        self._sums: dict[str, Tensor] = {}

    def _on(self, device: torch.device) -> None:
        # torch.full writes the value on the device itself: no copy from the host, no waiting.
        loss_sum, sums = self._start
        self._loss = torch.full((), loss_sum, dtype=torch.float64, device=device)
        self._sums = {
            key: torch.full((), value, dtype=torch.float64, device=device) for key, value in sums.items()
        }

    def add(self, loss: Tensor, size: int, sums: dict) -> None:
        """Adds a batch of ``size`` examples: its mean ``loss`` and the family's ``sums`` (tensors or numbers)."""
        if self._loss is None:
            self._on(loss.device)
        assert self._loss is not None
        # A product, then a sum: two roundings, as in Python (no fused multiply-add through alpha=).
        self._loss = self._loss + loss.detach().double() * size
        self.count += size
        for key, part in sums.items():
            part = part.detach().double() if isinstance(part, Tensor) else float(part)
            if key not in self._sums:
                self._sums[key] = torch.zeros((), dtype=torch.float64, device=self._loss.device)
            self._sums[key] = self._sums[key] + part

    def values(self) -> tuple[float, int, dict[str, float]]:
        """``(loss_sum, count, sums)`` as Python numbers (reads the device)."""
        if self._loss is None:
            return self._start[0], self.count, dict(self._start[1])
        return float(self._loss), self.count, {key: float(value) for key, value in self._sums.items()}
