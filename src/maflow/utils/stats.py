"""Summary statistics of per-example log-likelihoods, as the papers report them."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["mean_and_error", "log_mean_exp", "robust_summary"]


def mean_and_error(values, num_errors: float = 2.0) -> tuple[float, float]:
    """Mean and ``num_errors`` standard errors (population std / sqrt(N)), in float64.

    This is the MAF/NSF convention: "± 2 standard errors" over test points. One value has no
    spread to estimate: its error is NaN, not 0 (a one-row validation split is not exact).

    Example:
        >>> mean_and_error([1.0, 3.0, 5.0])[0]
        3.0
        >>> mean_and_error([5.0])
        (5.0, nan)
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        raise ValueError("no values to summarise")
    if values.size == 1:
        return float(values[0]), math.nan
    return float(values.mean()), float(num_errors * values.std() / math.sqrt(values.size))


def log_mean_exp(values: Tensor, dim: int = 0) -> Tensor:
    """log(mean(exp(values))) along ``dim``, computed stably in float64."""
    values = values.double()
    return torch.logsumexp(values, dim) - math.log(values.shape[dim])


def robust_summary(values, outlier_sigmas: float = 10.0, trim: float = 0.01) -> dict:
    """Mean ± 2 SE, median, trimmed mean and the count of extreme points.

    A handful of test points with enormous negative log-likelihood can dominate the mean;
    an outlier is a point more than ``outlier_sigmas`` robust standard deviations (MAD-based)
    below the median.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    mean, error = mean_and_error(values)
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median))) * 1.4826
    outliers = int((values < median - outlier_sigmas * mad).sum()) if mad > 0 else 0
    cut = int(trim * values.size)
    trimmed = np.sort(values)[cut : values.size - cut] if values.size > 2 * cut else values
    return {
        "mean": mean,
        "error_2se": error,
        "median": median,
        "trimmed_mean": float(trimmed.mean()),
        "trim_fraction": trim,
        "num_outliers": outliers,
        "count": int(values.size),
    }
