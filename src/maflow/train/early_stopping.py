"""Early stopping: counts validations without improvement of a lower-is-better value."""

from __future__ import annotations

import math

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Counts validations without improvement of a lower-is-better value.

    Arguments:
        patience: Validations without a new best before :attr:`should_stop` (``None``: never).

    Example:
        >>> stop = EarlyStopping(patience=2)
        >>> [stop.update(v) for v in (3.0, 2.0, 2.5, 2.1)], stop.should_stop
        ([True, True, False, False], True)
    """

    def __init__(self, patience: int | None):
        self.patience = patience
        self.best = math.inf
        self.counter = 0

    def update(self, value: float) -> bool:
        """Records a validation value; returns whether it is a new best."""
        if value < self.best:
            self.best, self.counter = value, 0
            return True
        self.counter += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.counter >= self.patience
