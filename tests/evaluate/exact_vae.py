"""A tiny VAE over 5 binary pixels whose log p(x) is computable by quadrature (shared by tests)."""

from __future__ import annotations

import functools
import math

import torch

from maflow.models.vae import VAE

PIXELS = 5


def all_patterns() -> torch.Tensor:
    """The 32 binary images of 5 pixels, float64."""
    codes = torch.arange(2**PIXELS)
    return ((codes[:, None] >> torch.arange(PIXELS)) & 1).double()


@functools.lru_cache(maxsize=1)
def trained_tiny_vae() -> VAE:
    """A 2-D latent VAE with a 2-step IAF posterior, trained briefly (float64, eval mode)."""
    torch.manual_seed(0)
    vae = VAE(
        image_shape=(1, 1, PIXELS),
        latent_features=2,
        encoder="dense",
        decoder="dense",
        hidden_features=[16],
        batch_norm=False,
        context_features=8,
        flow_steps=2,
        flow_hidden_features=[8],
        flow_normalization="none",
    ).double()
    # Data: a few prototype patterns with pixel noise, so the posterior is multi-modal-ish.
    prototypes = torch.tensor([[1, 1, 0, 0, 0], [0, 0, 1, 1, 1], [1, 0, 1, 0, 1]], dtype=torch.float64)
    optimizer = torch.optim.Adam(vae.parameters(), lr=1e-2)
    for _ in range(200):
        x = prototypes[torch.randint(0, 3, (64,))]
        x = torch.where(torch.rand_like(x) < 0.1, 1 - x, x)
        loss = -vae(x).elbo.mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return vae.eval()


@torch.no_grad()
def exact_log_likelihood(
    vae: VAE, x: torch.Tensor, half_width: float = 8.0, points: int = 401
) -> torch.Tensor:
    """log p(x) = log of the integral of p(z) p(x|z) over a 2-D grid (midpoint rule), float64."""
    grid = torch.linspace(-half_width, half_width, points, dtype=torch.float64)
    z = torch.cartesian_prod(grid, grid)  # (G, 2)
    cell = math.log((grid[1] - grid[0]).item()) * 2
    log_joint = vae.log_prior(z)[:, None] + vae.log_likelihood(x, z[:, None, :])  # (G, N)
    return torch.logsumexp(log_joint, 0) + cell
