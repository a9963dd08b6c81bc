"""Variational autoencoders with a flow posterior: IAF (karstenkreis/flow_vae), NAF, planar, radial, Sylvester."""

from maflow.models.vae.posterior import POSTERIORS, FlowPosterior, IAFPosterior, IAFStep
from maflow.models.vae.vae import VAE, ELBOTerms

__all__ = ["VAE", "ELBOTerms", "FlowPosterior", "IAFPosterior", "IAFStep", "POSTERIORS"]
