"""Importance-sampled log-likelihood of a latent-variable model, streamed in bounded memory."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from maflow.utils.stats import mean_and_error

__all__ = ["ImportanceResult", "importance_log_likelihood"]


@dataclass
class ImportanceResult:
    """Per-example estimates (float64) of an importance-sampling run."""

    log_likelihood: Tensor  # log (1/k) sum_j w_j, a stochastic lower bound on log p(x)
    elbo: Tensor  # (1/k) sum_j log w_j, the ELBO estimated with the same k samples
    num_samples: int

    def summary(self) -> dict:
        """Negative log-likelihood and negative ELBO, each as mean ± 2 standard errors (nats)."""
        nll, nll_error = mean_and_error(-self.log_likelihood.numpy())
        nelbo, nelbo_error = mean_and_error(-self.elbo.numpy())
        return {
            "nll": nll,
            "nll_error_2se": nll_error,
            "neg_elbo": nelbo,
            "neg_elbo_error_2se": nelbo_error,
            "num_samples": self.num_samples,
            "num_examples": int(self.log_likelihood.numel()),
        }


@torch.no_grad()
def importance_log_likelihood(
    model,
    data: Tensor,
    num_samples: int = 1000,
    batch_size: int = 100,
    max_samples_per_pass: int = 20_000,
    progress=None,
) -> ImportanceResult:
    r"""Estimates :math:`\log p(x) \approx \log \frac1k \sum_{j=1}^k p(x, z_j) / q(z_j|x)`, :math:`z_j \sim q(z|x)`.

    ``model.log_weights(x, s)`` must return the ``(s, B)`` log-weights
    :math:`\log p(x, z) - \log q(z|x)`. The ``k`` samples are drawn in chunks of at most
    ``max_samples_per_pass`` latents per forward pass and combined with a running
    log-sum-exp in float64, so memory does not grow with ``k``. The model is evaluated in
    evaluation mode (batch norm uses its stored statistics) and restored afterwards.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934
        | Importance Weighted Autoencoders (Burda et al., 2015), https://arxiv.org/abs/1509.00519

    Arguments:
        model: A module with ``log_weights(x, num_samples)``.
        data: Binary data, shape ``(N, D)``.
        num_samples: Importance samples k per example.
        batch_size: Examples per pass.
        max_samples_per_pass: Bound on examples x samples in one pass.
        progress: Optional callable ``progress(done, total)`` called after every batch.

    Example:
        >>> from maflow.models.vae import VAE
        >>> vae = VAE(image_shape=(1, 1, 4), latent_features=1, encoder="dense", decoder="dense",
        ...           hidden_features=[4], flow_steps=0, batch_norm=False)
        >>> result = importance_log_likelihood(vae, torch.ones(3, 4), num_samples=50)
        >>> bool((result.log_likelihood >= result.elbo).all())
        True
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else data.device
    was_training = model.training
    model.eval()
    try:
        log_likelihoods, elbos = [], []
        for start in range(0, data.shape[0], batch_size):
            x = data[start : start + batch_size].to(device)
            chunk = max(1, min(num_samples, max_samples_per_pass // max(1, x.shape[0])))
            log_sum = torch.full((x.shape[0],), -math.inf, dtype=torch.float64)
            weight_sum = torch.zeros(x.shape[0], dtype=torch.float64)
            for done in range(0, num_samples, chunk):
                log_weights = model.log_weights(x, min(chunk, num_samples - done)).double().cpu()
                log_sum = torch.logaddexp(log_sum, torch.logsumexp(log_weights, 0))
                weight_sum += log_weights.sum(0)
            log_likelihoods.append(log_sum - math.log(num_samples))
            elbos.append(weight_sum / num_samples)
            if progress is not None:
                progress(min(start + batch_size, data.shape[0]), data.shape[0])
    finally:
        model.train(was_training)
    return ImportanceResult(torch.cat(log_likelihoods), torch.cat(elbos), num_samples)
