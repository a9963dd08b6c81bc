"""Per-example log-likelihoods and the bits-per-dimension conventions, each labelled."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from maflow.utils.stats import mean_and_error, robust_summary

__all__ = [
    "log_likelihoods",
    "logit_to_pixel_log_likelihoods",
    "bits_per_dim",
    "likelihood_report",
]


@torch.no_grad()
def log_likelihoods(
    model,
    x,
    batch_size: int = 1000,
    dtype: torch.dtype = torch.float64,
    progress: bool | None = False,
    desc: str = "log-likelihood",
) -> np.ndarray:
    """``model.log_prob`` of every row of ``x``, in evaluation mode, as float64.

    The model runs in ``dtype`` (float64 by default, so the sums over 784 dimensions lose
    nothing) on its own device; in evaluation mode batch norm uses stored statistics, so the
    result does not depend on ``batch_size``. ``progress``: a bar over the batches (``None``:
    on a terminal).
    """
    from maflow.run.progress import progress_bar

    was_training = model.training
    model.eval()
    parameter = next(model.parameters(), None)
    original = parameter.dtype if parameter is not None else torch.float32
    device = parameter.device if parameter is not None else torch.device("cpu")
    model.to(dtype)
    try:
        x = x if torch.is_tensor(x) else torch.as_tensor(np.asarray(x))
        values = []
        with progress_bar(len(x), desc, progress, unit="points") as bar:
            for chunk in x.split(batch_size):
                values.append(model.log_prob(chunk.to(device, dtype)).double().cpu())
                bar.update(len(chunk))
    finally:
        model.to(original)
        model.train(was_training)
    return torch.cat(values).numpy()


def logit_to_pixel_log_likelihoods(log_likelihood, y, logit_lambda: float) -> np.ndarray:
    r"""Log-densities of the pixel intensities :math:`x \in [0, 1]` from those of the logits ``y``.

    With :math:`y = \mathrm{logit}(\lambda + (1 - 2\lambda) x)` and :math:`z = \sigma(y)`:
    :math:`\log p(x) = \log p(y) + D \log(1 - 2\lambda) - \sum_d [\log z_d + \log(1 - z_d)]`
    (the MAF code's correction; the logs are computed as softplus for stability).

    Example:
        >>> y = np.zeros((1, 2))  # z = 1/2: each dimension adds log 4 (and log(1 - 2e-6))
        >>> round(float(logit_to_pixel_log_likelihoods(np.zeros(1), y, 1e-6)[0]) - 2 * math.log(4), 7)
        -4e-06
    """
    y = torch.as_tensor(np.asarray(y), dtype=torch.float64)
    features = y.shape[-1]
    # log z + log(1 - z) = -softplus(-y) - softplus(y)
    log_jacobian = -(F.softplus(-y) + F.softplus(y)).sum(-1)
    correction = features * math.log1p(-2 * logit_lambda) - log_jacobian
    return np.asarray(log_likelihood, dtype=np.float64) + correction.numpy()


def bits_per_dim(log_likelihood, features: int, quantization_levels: int | None = None) -> np.ndarray:
    r"""Per-example :math:`-\log p / (D \ln 2)`, plus :math:`\log_2` of the number of levels.

    With ``quantization_levels=256`` and pixel-space log-densities this is the MAF paper's
    bits/pixel (the +8 turns a density on [0, 1] into probabilities of 256 levels); without
    levels it is NLL/(D ln 2), the MAF-v1.0 specification's.
    """
    bits = -np.asarray(log_likelihood, dtype=np.float64) / (features * math.log(2))
    if quantization_levels:
        bits = bits + math.log2(quantization_levels)
    return bits


def likelihood_report(log_likelihood, y=None, logit_lambda=None, quantization_levels=None) -> dict:
    """Every labelled summary of per-example log-likelihoods ``log_likelihood`` of rows ``y``.

    Keys: ``log_likelihood`` (model space, nats; robust summary with mean, 2 SE, median,
    trimmed mean, outliers), ``bits_per_dim_model_space`` (NLL/(D ln 2)) and, for
    logit-transformed images, ``log_likelihood_pixel_space`` and ``bits_per_dim_pixel_space``
    (MAF convention, + log2(levels)).
    """
    log_likelihood = np.asarray(log_likelihood, dtype=np.float64)
    features = np.asarray(y).shape[-1] if y is not None else None
    report = {"log_likelihood": robust_summary(log_likelihood)}
    if features is not None:
        report["bits_per_dim_model_space"] = _bits_summary(bits_per_dim(log_likelihood, features))
        if logit_lambda is not None:
            pixel = logit_to_pixel_log_likelihoods(log_likelihood, y, logit_lambda)
            report["log_likelihood_pixel_space"] = robust_summary(pixel)
            report["bits_per_dim_pixel_space"] = _bits_summary(
                bits_per_dim(pixel, features, quantization_levels or 256)
            )
    return report


def _bits_summary(bits: np.ndarray) -> dict:
    mean, error = mean_and_error(bits)
    return {"mean": mean, "error_2se": error, "median": float(np.median(bits))}
