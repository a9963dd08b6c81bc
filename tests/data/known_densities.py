"""Data of known density for end-to-end accuracy tests: Gaussian mixtures, plain and conditional."""

from __future__ import annotations

import numpy as np

__all__ = ["SCALES", "mixture_sample", "mixture_log_density", "conditional_sample", "conditional_log_density"]

# Columns on very different scales: a flow that is not standardised first cannot fit them.
SCALES = np.array([1e-3, 1.0, 1e3, 10.0])
_MEANS = np.array([[-1.0, -1.0, 0.5, 0.0], [1.0, 1.0, -0.5, 0.5]])
_CORRELATION = 0.6


def _covariance() -> np.ndarray:
    covariance = np.full((4, 4), 0.15 * _CORRELATION) + np.eye(4) * 0.15 * (1 - _CORRELATION)
    return covariance


def _gaussian_log_density(x: np.ndarray, mean: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    cholesky = np.linalg.cholesky(covariance)
    solved = np.linalg.solve(cholesky, (x - mean).T).T
    log_det = 2 * np.log(np.diag(cholesky)).sum()
    return -0.5 * (solved**2).sum(1) - 0.5 * (len(mean) * np.log(2 * np.pi) + log_det)


def mixture_sample(n: int, seed: int = 0) -> np.ndarray:
    """``n`` rows of an equal-weight mixture of two correlated 4-D Gaussians, columns scaled by SCALES."""
    rng = np.random.default_rng(seed)
    component = rng.integers(0, 2, n)
    z = rng.multivariate_normal(np.zeros(4), _covariance(), n) + _MEANS[component]
    return z * SCALES


def mixture_log_density(x: np.ndarray) -> np.ndarray:
    """The exact log-density of :func:`mixture_sample`'s rows (nats, in the scaled units)."""
    z = np.asarray(x, np.float64) / SCALES
    components = np.stack([_gaussian_log_density(z, mean, _covariance()) for mean in _MEANS], axis=1)
    return np.logaddexp(components[:, 0], components[:, 1]) - np.log(2) - np.log(SCALES).sum()


def conditional_sample(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Rows x (2-D) and continuous contexts c (1-D, uniform on [-1, 1]): x | c ~ N(m(c), S(c))."""
    rng = np.random.default_rng(seed)
    c = rng.uniform(-1, 1, (n, 1))
    mean, scale = _conditional_parameters(c)
    x = mean + scale * rng.normal(size=(n, 2))
    return x, c * 100.0  # the context on another scale too


def _conditional_parameters(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = np.concatenate([2 * c, -(c**2)], axis=1) * [1.0, 1e2]
    scale = np.concatenate([0.3 + 0.2 * (c + 1), 0.5 + 0 * c], axis=1) * [1.0, 1e2]
    return mean, scale


def conditional_log_density(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The exact log p(x | c) of :func:`conditional_sample` (c as returned, in its scaled units)."""
    mean, scale = _conditional_parameters(np.asarray(c, np.float64) / 100.0)
    z = (np.asarray(x, np.float64) - mean) / scale
    return (-0.5 * z**2 - np.log(scale) - 0.5 * np.log(2 * np.pi)).sum(1)
