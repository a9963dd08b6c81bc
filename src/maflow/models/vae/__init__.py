"""Variational autoencoders with an inverse autoregressive flow posterior (seed 004)."""

from maflow.models.vae.posterior import IAFPosterior, IAFStep
from maflow.models.vae.vae import VAE, ELBOTerms

__all__ = ["VAE", "ELBOTerms", "IAFPosterior", "IAFStep"]
