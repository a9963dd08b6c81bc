"""VAE decoders: latent to Bernoulli logits, mirroring the encoders."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maflow.models.vae.encoders import GatedConv2d, ResidualBlock, _norm1d, _norm2d

__all__ = ["ResNetDecoder", "GatedConvDecoder", "DenseDecoder"]


class ResNetDecoder(nn.Module):
    r"""karstenkreis/flow_vae's ResNet decoder: ``z`` to 784 Bernoulli logits.

    The latent, as a 1x1 map, goes through a 7x7 transposed convolution to 7x7 (ELU),
    ``num_stages`` stages of ``blocks_per_stage`` :class:`ResidualBlock`, the first block of
    every stage after the first doubling the resolution (7, 14, 28) with a strided
    transposed convolution, then BN, ELU and a 1x1 convolution to the image channels.

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        latent_features: Latent size L.
        image_shape: ``(channels, 28, 28)``.
        channels, num_stages, blocks_per_stage, kernel_size, batch_norm: As the encoder.

    Example:
        >>> ResNetDecoder(3, channels=4)(torch.randn(2, 3)).shape
        torch.Size([2, 784])
    """

    def __init__(
        self,
        latent_features: int,
        image_shape: Sequence[int] = (1, 28, 28),
        channels: int = 64,
        num_stages: int = 3,
        blocks_per_stage: int = 2,
        kernel_size: int = 3,
        batch_norm: bool = True,
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.latent_features = latent_features
        start = self.image_shape[1] // 2 ** (num_stages - 1)
        if start * 2 ** (num_stages - 1) != self.image_shape[1] or self.image_shape[1] != self.image_shape[2]:
            raise ValueError(f"image {self.image_shape} is not square with a side divisible by 2^(stages-1)")
        self.stem = nn.ConvTranspose2d(latent_features, channels, start, bias=not batch_norm)
        blocks = []
        for stage in range(num_stages):
            for block in range(blocks_per_stage):
                resample = "up" if stage > 0 and block == 0 else None
                blocks.append(ResidualBlock(channels, kernel_size, resample, batch_norm))
        self.blocks = nn.Sequential(*blocks)
        self.norm = _norm2d(channels, batch_norm)
        self.out = nn.Conv2d(channels, self.image_shape[0], 1)

    def forward(self, z: Tensor) -> Tensor:
        h = F.elu(self.stem(z.reshape(-1, self.latent_features, 1, 1)))
        h = self.blocks(h)
        return self.out(F.elu(self.norm(h))).flatten(1)


class GatedConvDecoder(nn.Module):
    r"""The Sylvester-flows decoder: gated transposed convolutions, then a 1x1 convolution to logits.

    References:
        | Sylvester Normalizing Flows for Variational Inference (van den Berg et al., 2018)
        | https://arxiv.org/abs/1803.05649

    Arguments:
        latent_features: Latent size L.
        image_shape: ``(channels, 28, 28)``.

    Example:
        >>> GatedConvDecoder(3)(torch.randn(2, 3)).shape
        torch.Size([2, 784])
    """

    def __init__(self, latent_features: int, image_shape: Sequence[int] = (1, 28, 28)):
        super().__init__()
        self.image_shape = tuple(image_shape)
        if self.image_shape[1:] != (28, 28):
            raise ValueError(f"the gated convolutional decoder expects 28x28 images, got {self.image_shape}")
        self.latent_features = latent_features
        up = dict(transposed=True)
        self.layers = nn.Sequential(
            GatedConv2d(latent_features, 64, 7, 1, 0, **up),
            GatedConv2d(64, 64, 5, 1, 2, **up),
            GatedConv2d(64, 32, 5, 2, 2, output_padding=1, **up),
            GatedConv2d(32, 32, 5, 1, 2, **up),
            GatedConv2d(32, 32, 5, 2, 2, output_padding=1, **up),
            GatedConv2d(32, 32, 5, 1, 2, **up),
        )
        self.out = nn.Conv2d(32, self.image_shape[0], 1)

    def forward(self, z: Tensor) -> Tensor:
        return self.out(self.layers(z.reshape(-1, self.latent_features, 1, 1))).flatten(1)


class DenseDecoder(nn.Module):
    r"""Fully connected layers each of which also sees ``z``; the output layer has no batch norm.

    Arguments:
        latent_features: Latent size L.
        out_features: Number of pixels D.
        hidden_features: Widths of the hidden layers (may be empty: a linear decoder).
        batch_norm: Batch norm after each hidden ELU (karstenkreis/flow_vae's NONCONV decoder).

    Example:
        >>> DenseDecoder(2, 5, [4])(torch.randn(3, 2)).shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        latent_features: int,
        out_features: int,
        hidden_features: Sequence[int] = (300, 300),
        batch_norm: bool = True,
    ):
        super().__init__()
        layers, norms, previous = [], [], 0
        for units in hidden_features:
            layers.append(nn.Linear(previous + latent_features, units))
            norms.append(_norm1d(units, batch_norm))
            previous = units
        self.layers, self.norms = nn.ModuleList(layers), nn.ModuleList(norms)
        # Unlike karstenkreis/flow_vae, the output layer keeps a bias: it learns the pixel marginals directly.
        self.out = nn.Linear(previous + latent_features, out_features)
        self.latent_features = latent_features

    def forward(self, z: Tensor) -> Tensor:
        z = z.reshape(-1, self.latent_features)
        h = z[:, :0]
        for layer, norm in zip(self.layers, self.norms):
            h = norm(F.elu(layer(torch.cat([h, z], -1))))
        return self.out(torch.cat([h, z], -1))
