"""A VAE for binary images with an IAF posterior and a Bernoulli decoder."""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maflow.models.config import constructor_config
from maflow.models.vae.decoders import DenseDecoder, GatedConvDecoder, ResNetDecoder
from maflow.models.vae.encoders import DenseBody, Encoder, GatedConvBody, ResNetBody
from maflow.models.vae.posterior import IAFPosterior

__all__ = ["VAE", "ELBOTerms", "ARCHITECTURES"]

ARCHITECTURES = ("resnet", "gated", "dense")


class ELBOTerms(NamedTuple):
    """Per-sample, per-example terms of shape ``(S, B)``, in nats."""

    log_likelihood: Tensor  # log p(x|z)
    log_prior: Tensor  # log p(z)
    log_posterior: Tensor  # log q(z|x)

    @property
    def kl(self) -> Tensor:
        """Single-sample estimate of KL(q(z|x) || p(z))."""
        return self.log_posterior - self.log_prior

    @property
    def elbo(self) -> Tensor:
        """log p(x, z) - log q(z|x): an importance log-weight, whose mean is the ELBO."""
        return self.log_likelihood + self.log_prior - self.log_posterior


class VAE(nn.Module):
    r"""VAE with prior :math:`\mathcal{N}(0, I)`, Bernoulli decoder and an IAF posterior.

    The encoder gives the mean, log-std and a context ``h``; the posterior
    (:class:`~maflow.models.vae.posterior.IAFPosterior`) draws :math:`z_0` from the
    diagonal Gaussian and refines it with ``flow_steps`` cMADE steps that see ``h``.
    All constructor arguments are plain values, stored in ``hparams``, so a checkpoint
    rebuilds the model with ``VAE(**hparams)``.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        image_shape: ``(channels, height, width)``; the data are flat vectors of their product.
        latent_features: Latent size L (karstenkreis/flow_vae: 64; the IAF paper: 32).
        encoder, decoder: ``"resnet"``, ``"gated"`` or ``"dense"``.
        hidden_features: Widths of the dense encoder and decoder layers.
        channels: Feature maps of the ResNet encoder and decoder.
        resnet_hidden_features: Fully connected layer after the ResNet encoder (450).
        gated_hidden_features: Output of the gated encoder (256).
        batch_norm: Batch norm in the encoder and decoder.
        context_features: Size of ``h`` (karstenkreis/flow_vae: 1920, the first cMADE width).
        flow_steps: Number of IAF steps (0: diagonal Gaussian posterior).
        flow_hidden_features: Hidden widths of each cMADE.
        flow_normalization: ``"batch"``, ``"weight"`` or ``"none"`` inside the cMADE.
        context_mode: ``"snf"`` or ``"linear"`` (see :class:`maflow.models.vae.IAFStep`).
        shift_only: Shift-only IAF steps.
        log_std_offset: Added to the encoder's log-std (karstenkreis/flow_vae: -3).
        posterior: The posterior's flow steps: ``"iaf"``, ``"naf"``, ``"planar"``, ``"radial"``,
            ``"sylvester-orthogonal"``, ``"sylvester-householder"``, ``"sylvester-triangular"``
            or ``"diagonal"`` (see :class:`maflow.models.vae.posterior.FlowPosterior`).

    Example:
        >>> vae = VAE(image_shape=(1, 2, 3), latent_features=2, encoder="dense", decoder="dense",
        ...           hidden_features=[8], context_features=8, flow_steps=2, flow_hidden_features=[8])
        >>> terms = vae(torch.bernoulli(torch.full((5, 6), 0.5)), num_samples=3)
        >>> terms.elbo.shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        latent_features: int = 64,
        encoder: str = "resnet",
        decoder: str = "resnet",
        hidden_features: Sequence[int] = (300, 300),
        channels: int = 64,
        resnet_hidden_features: int = 450,
        gated_hidden_features: int = 256,
        batch_norm: bool = True,
        context_features: int = 1920,
        flow_steps: int = 8,
        flow_hidden_features: Sequence[int] = (1920, 1920),
        flow_normalization: str = "batch",
        context_mode: str = "snf",
        shift_only: bool = False,
        log_std_offset: float = -3.0,
        posterior: str = "iaf",
    ):
        hparams = constructor_config(locals())
        super().__init__()
        for name, kind in (("encoder", encoder), ("decoder", decoder)):
            if kind not in ARCHITECTURES:
                raise ValueError(f"unknown {name} {kind!r}: use one of {ARCHITECTURES}")
        image_shape = tuple(int(s) for s in image_shape)
        self.hparams = dict(hparams, image_shape=list(image_shape))
        self.image_shape = image_shape
        self.data_features = math.prod(image_shape)
        self.latent_features = latent_features
        body: nn.Module
        if encoder == "resnet":
            body = ResNetBody(
                image_shape, channels, hidden_features=resnet_hidden_features, batch_norm=batch_norm
            )
        elif encoder == "gated":
            body = GatedConvBody(image_shape, gated_hidden_features)
        else:
            body = DenseBody(self.data_features, hidden_features, batch_norm)
        context = context_features if flow_steps > 0 else 0
        self.encoder = Encoder(body, latent_features, context, batch_norm)
        self.decoder: nn.Module
        if decoder == "resnet":
            self.decoder = ResNetDecoder(latent_features, image_shape, channels, batch_norm=batch_norm)
        elif decoder == "gated":
            self.decoder = GatedConvDecoder(latent_features, image_shape)
        else:
            self.decoder = DenseDecoder(latent_features, self.data_features, hidden_features, batch_norm)
        self.posterior = IAFPosterior(
            latent_features,
            context,
            flow_steps,
            flow_hidden_features,
            flow_normalization,
            context_mode,
            shift_only=shift_only,
            log_std_offset=log_std_offset,
            flow=posterior,
        )

    @classmethod
    def with_defaults(cls, hparams: dict) -> dict:
        """``hparams`` completed with the defaults of settings added since it was stored."""
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(cls.__init__).parameters.items()
            if parameter.default is not inspect.Parameter.empty
        }
        return constructor_config({**defaults, **hparams})

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        """Mean, log-std (before the posterior's offset) and context, each ``(B, ...)``."""
        return self.encoder(x.reshape(-1, self.data_features))

    def base_posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and std of the Gaussian q0(z|x), the offset included."""
        mean, log_std, _ = self.encode(x)
        mean, log_std = self.posterior.base_parameters(mean, log_std)
        return mean, torch.exp(log_std)

    def logits(self, z: Tensor) -> Tensor:
        """Bernoulli logits of ``p(x|z)`` for latents of shape ``(..., L)``."""
        return self.decoder(z.reshape(-1, self.latent_features)).reshape(*z.shape[:-1], self.data_features)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x|z) summed over pixels; ``x`` of shape ``(B, D)`` broadcasts against ``z`` ``(..., B, L)``."""
        logits, x = torch.broadcast_tensors(self.logits(z), x)
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)

    def log_prior(self, z: Tensor) -> Tensor:
        return -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)

    def forward(self, x: Tensor, num_samples: int = 1) -> ELBOTerms:
        """Draws ``num_samples`` latents per example from q(z|x) and returns the ELBO's terms."""
        x = x.reshape(-1, self.data_features)
        mean, log_std, context = self.encoder(x)
        z, log_q = self.posterior.rsample_and_log_prob(mean, log_std, context, num_samples)
        return ELBOTerms(self.log_likelihood(x, z), self.log_prior(z), log_q)

    def log_weights(self, x: Tensor, num_samples: int) -> Tensor:
        """Importance log-weights log p(x, z) - log q(z|x), shape ``(num_samples, B)``."""
        return self(x, num_samples).elbo

    @torch.no_grad()
    def sample(self, num_samples: int) -> Tensor:
        """Bernoulli means of ``p(x|z)`` for ``z`` from the prior, shape ``(num_samples, D)``."""
        z = torch.randn(num_samples, self.latent_features, device=next(self.parameters()).device)
        return torch.sigmoid(self.logits(z))

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Bernoulli means of ``p(x|z)`` for one ``z`` drawn from q(z|x)."""
        x = x.reshape(-1, self.data_features)
        mean, log_std, context = self.encoder(x)
        z, _ = self.posterior.rsample_and_log_prob(mean, log_std, context, 1)
        return torch.sigmoid(self.logits(z[0]))
