"""Per-column standardisation with the training split's statistics, and its log-Jacobian."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Standardization"]

_CHUNK_ROWS = 65536


@dataclass(frozen=True)
class Standardization:
    """``z = (x - mean) / scale`` per column; densities move by ``log_abs_det``.

    A flow fitted to ``z`` has ``log p(x) = log p(z) + log_abs_det`` with
    ``log_abs_det = -sum(log scale)``: add it to a model-space log-density to get one in the
    data's own units.

    Arguments:
        mean, scale: float64 arrays of one value per column (scale > 0).

    Example:
        >>> s = Standardization.fit(np.array([[0.0, 1000.0], [2.0, 3000.0]]))
        >>> s.mean.tolist(), s.scale.tolist(), round(s.log_abs_det, 4)
        ([1.0, 2000.0], [1.0, 1000.0], -6.9078)
        >>> s.inverse(s.apply(np.array([[2.0, 3000.0]]))).tolist()
        [[2.0, 3000.0]]
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> Standardization:
        """Mean and standard deviation of every column of ``x`` (float64, read in chunks)."""
        count, total, squares = 0, 0.0, 0.0
        for start in range(0, len(x), _CHUNK_ROWS):
            chunk = np.asarray(x[start : start + _CHUNK_ROWS], dtype=np.float64)
            count, total = count + len(chunk), total + chunk.sum(0)
        mean = total / count
        for start in range(0, len(x), _CHUNK_ROWS):
            chunk = np.asarray(x[start : start + _CHUNK_ROWS], dtype=np.float64)
            squares = squares + ((chunk - mean) ** 2).sum(0)
        return cls(np.asarray(mean, np.float64), np.sqrt(np.asarray(squares, np.float64) / count))

    @classmethod
    def identity(cls, features: int) -> Standardization:
        return cls(np.zeros(features), np.ones(features))

    @property
    def log_abs_det(self) -> float:
        """``log |dz/dx| = -sum(log scale)``: add it to log p(z) to get log p(x)."""
        return float(-np.log(self.scale).sum())

    def apply(self, x) -> np.ndarray:
        """``(x - mean) / scale`` as float32 (computed in float64, in chunks of rows)."""
        x = np.asarray(x)
        out = np.empty(x.shape, np.float32)
        for start in range(0, max(len(x), 1), _CHUNK_ROWS):
            chunk = np.asarray(x[start : start + _CHUNK_ROWS], dtype=np.float64)
            out[start : start + _CHUNK_ROWS] = (chunk - self.mean) / self.scale
        return out

    def inverse(self, z) -> np.ndarray:
        """``z * scale + mean`` in float64: model space back to the data's units."""
        return np.asarray(z, dtype=np.float64) * self.scale + self.mean

    def to_record(self) -> dict:
        """Plain lists, for a checkpoint that is loaded with ``weights_only=True``."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_record(cls, record: dict) -> Standardization:
        return cls(np.asarray(record["mean"], np.float64), np.asarray(record["scale"], np.float64))
