"""Preprocessing steps shared by the loaders: tail splits, dequantisation, logit, binarisation."""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "tail_split",
    "dequantize",
    "dequantize_logit",
    "logit_transform",
    "inverse_logit_transform",
    "binarize",
]

# Rows of uniform noise drawn per call: bounds memory without changing the random stream
# (RandomState draws doubles in row-major order, so chunked draws equal one big draw).
_CHUNK_ROWS = 8192


def tail_split(data: np.ndarray, fraction: float = 0.1):
    """The MAF authors' split rule: test is the last ``int(fraction N)`` rows, validation the last
    ``int(fraction N_rest)`` rows of what remains, train the rest; nothing is shuffled.

    Example:
        >>> train, val, test = tail_split(np.arange(100))
        >>> len(train), len(val), len(test), int(test[0]), int(val[0])
        (81, 9, 10, 90, 81)
    """
    num_test = int(fraction * data.shape[0])
    rest, test = data[: data.shape[0] - num_test], data[data.shape[0] - num_test :]
    num_val = int(fraction * rest.shape[0])
    return rest[: rest.shape[0] - num_val], rest[rest.shape[0] - num_val :], test


def dequantize(pixels: np.ndarray, levels: int, rng: np.random.RandomState) -> np.ndarray:
    """Returns ``pixels / levels + U(0,1) / levels`` in float64, drawing the noise from ``rng``
    row by row (the same stream as ``rng.rand(*pixels.shape)``), as the MAF code does with /256.

    Example:
        >>> x = dequantize(np.array([[0, 255]], np.uint8), 256, np.random.RandomState(0))
        >>> bool((x >= [0, 255 / 256]).all() and (x < [1 / 256, 1]).all())
        True
    """
    pixels = pixels.reshape(pixels.shape[0], -1)
    out = np.empty(pixels.shape, np.float64)
    for start in range(0, pixels.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        noise = rng.rand(*out[rows].shape)
        out[rows] = pixels[rows] / float(levels) + noise / float(levels)
    return out


def dequantize_logit(pixels: np.ndarray, levels: int, rng: np.random.RandomState, lam: float) -> np.ndarray:
    """``logit_transform(dequantize(pixels, levels, rng), lam)`` as float32, computed in chunks of
    rows (same values, bounded float64 memory).

    Example:
        >>> pixels = np.arange(12, dtype=np.uint8).reshape(3, 4)
        >>> a = dequantize_logit(pixels, 256, np.random.RandomState(1), 1e-6)
        >>> b = logit_transform(dequantize(pixels, 256, np.random.RandomState(1)), 1e-6).astype(np.float32)
        >>> np.array_equal(a, b)
        True
    """
    pixels = pixels.reshape(pixels.shape[0], -1)
    out = np.empty(pixels.shape, np.float32)
    for start in range(0, pixels.shape[0], _CHUNK_ROWS):
        rows = slice(start, start + _CHUNK_ROWS)
        out[rows] = logit_transform(dequantize(pixels[rows], levels, rng), lam)
    return out


def logit_transform(x: np.ndarray, lam: float) -> np.ndarray:
    """``logit(lam + (1 - 2 lam) x)``: maps [0, 1] into a bounded interval of the real line.

    Example:
        >>> logit_transform(np.array([0.5]), 1e-6)
        array([0.])
    """
    s = lam + (1.0 - 2.0 * lam) * x
    return np.log(s / (1.0 - s))


def inverse_logit_transform(y, lam: float):
    """``(sigmoid(y) - lam) / (1 - 2 lam)``, clipped to [0, 1]: model space back to pixel intensity.

    Works on numpy arrays and torch tensors.

    Example:
        >>> x = np.array([0.1, 0.9])
        >>> np.allclose(inverse_logit_transform(logit_transform(x, 0.05), 0.05), x)
        True
    """
    if isinstance(y, torch.Tensor):
        return ((torch.sigmoid(y) - lam) / (1.0 - 2.0 * lam)).clamp(0.0, 1.0)
    return np.clip((1.0 / (1.0 + np.exp(-y)) - lam) / (1.0 - 2.0 * lam), 0.0, 1.0)


def binarize(x_grey: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Dynamic binarisation: one Bernoulli draw per pixel with the grey level as probability.

    Call it on every training batch (a fresh draw each time), as in the IAF and VAE papers.

    Example:
        >>> x = torch.tensor([[0.0, 1.0, 0.5]])
        >>> b = binarize(x, torch.Generator().manual_seed(0))
        >>> b[0, :2].tolist(), bool(((b == 0) | (b == 1)).all())
        ([0.0, 1.0], True)
    """
    if not torch.is_floating_point(x_grey):
        raise TypeError(f"binarize needs grey levels in [0, 1] as a float tensor, got {x_grey.dtype}")
    return torch.bernoulli(x_grey, generator=generator)
