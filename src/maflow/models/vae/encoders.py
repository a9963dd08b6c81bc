"""VAE encoders: ResNet, gated convolutional and fully connected bodies with Gaussian heads."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["ResidualBlock", "GatedConv2d", "ResNetBody", "GatedConvBody", "DenseBody", "Encoder"]


def _norm2d(channels: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()


def _norm1d(features: int, batch_norm: bool) -> nn.Module:
    return nn.BatchNorm1d(features) if batch_norm else nn.Identity()


class ResidualBlock(nn.Module):
    r"""``x + 0.1 * conv(ELU(BN(conv(ELU(BN(x))))))``, strided down (or transposed up) when ``resample``.

    The shortcut is resized by nearest neighbour. The 0.1 scale keeps a deep stack close
    to the identity at initialisation (IAF paper's ResNet VAE).

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        channels: Feature maps in and out.
        kernel_size: Square kernel size (odd).
        resample: ``None``, ``"down"`` (stride 2) or ``"up"`` (transposed, stride 2).
        batch_norm: Whether to use batch norm.
        residual_scale: Factor on the residual branch.

    Example:
        >>> block = ResidualBlock(4, resample="down")
        >>> block(torch.randn(2, 4, 28, 28)).shape
        torch.Size([2, 4, 14, 14])
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        resample: str | None = None,
        batch_norm: bool = True,
        residual_scale: float = 0.1,
    ):
        super().__init__()
        if resample not in (None, "down", "up"):
            raise ValueError(f"unknown resample {resample!r}: use None, 'down' or 'up'")
        pad = kernel_size // 2
        self.resample = resample
        self.residual_scale = residual_scale
        self.norm1 = _norm2d(channels, batch_norm)
        self.conv1: nn.Module
        if resample == "up":
            self.conv1 = nn.ConvTranspose2d(
                channels, channels, kernel_size, 2, pad, output_padding=1, bias=not batch_norm
            )
        else:
            stride = 2 if resample == "down" else 1
            self.conv1 = nn.Conv2d(channels, channels, kernel_size, stride, pad, bias=not batch_norm)
        self.norm2 = _norm2d(channels, batch_norm)
        self.conv2 = nn.Conv2d(channels, channels, kernel_size, 1, pad, bias=not batch_norm)

    def forward(self, x: Tensor) -> Tensor:
        residual = self.conv1(F.elu(self.norm1(x)))
        residual = self.conv2(F.elu(self.norm2(residual)))
        if self.resample == "down":
            x = x[..., ::2, ::2]
        elif self.resample == "up":
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return x + self.residual_scale * residual


class GatedConv2d(nn.Module):
    r"""Gated convolution ``ELU(conv_h(x)) * sigmoid(conv_g(x))`` (transposed when ``transposed``).

    References:
        | Sylvester Normalizing Flows for Variational Inference (van den Berg et al., 2018)
        | https://arxiv.org/abs/1803.05649

    Arguments:
        in_channels, out_channels, kernel_size, stride, padding: As :class:`torch.nn.Conv2d`.
        transposed: Use transposed convolutions (decoders); ``output_padding`` as for
            :class:`torch.nn.ConvTranspose2d`.

    Example:
        >>> GatedConv2d(1, 8, 5, stride=2, padding=2)(torch.randn(2, 1, 28, 28)).shape
        torch.Size([2, 8, 14, 14])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        transposed: bool = False,
        output_padding: int = 0,
    ):
        super().__init__()
        make: Callable[[], nn.Module]
        if transposed:
            make = lambda: nn.ConvTranspose2d(
                in_channels, out_channels, kernel_size, stride, padding, output_padding
            )
        else:
            make = lambda: nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding)
        self.h, self.g = make(), make()

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(self.h(x)) * torch.sigmoid(self.g(x))


class ResNetBody(nn.Module):
    r"""karstenkreis/flow_vae's ResNet encoder body: 28x28 image to a ``hidden_features`` vector.

    A 3x3 stem convolution lifts the image to ``channels`` maps, then ``num_stages`` stages
    of ``blocks_per_stage`` :class:`ResidualBlock`; the first block of every stage after the
    first halves the resolution (28, 14, 7). Then BN, ELU, flatten and a fully connected
    layer (no bias, BN, ELU).

    References:
        | Improving Variational Inference with Inverse Autoregressive Flow (Kingma et al., 2016)
        | https://arxiv.org/abs/1606.04934

    Arguments:
        image_shape: ``(channels, height, width)`` of the input.
        channels: Feature maps in every convolution.
        num_stages, blocks_per_stage: Depth.
        kernel_size: Convolution kernel size.
        hidden_features: Size of the final fully connected layer (karstenkreis/flow_vae: 450).
        batch_norm: Whether to use batch norm.

    Example:
        >>> body = ResNetBody(channels=4, hidden_features=10)
        >>> body(torch.rand(2, 784)).shape
        torch.Size([2, 10])
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 28, 28),
        channels: int = 64,
        num_stages: int = 3,
        blocks_per_stage: int = 2,
        kernel_size: int = 3,
        hidden_features: int = 450,
        batch_norm: bool = True,
    ):
        super().__init__()
        self.image_shape = tuple(image_shape)
        # A stem convolution instead of karstenkreis/flow_vae's broadcast of 1 channel onto 64.
        self.stem = nn.Conv2d(self.image_shape[0], channels, kernel_size, 1, kernel_size // 2)
        blocks = []
        for stage in range(num_stages):
            for block in range(blocks_per_stage):
                resample = "down" if stage > 0 and block == 0 else None
                blocks.append(ResidualBlock(channels, kernel_size, resample, batch_norm))
        self.blocks = nn.Sequential(*blocks)
        self.norm = _norm2d(channels, batch_norm)
        height, width = self.image_shape[1:]
        for _ in range(num_stages - 1):
            height, width = (height + 1) // 2, (width + 1) // 2
        self.fc = nn.Linear(channels * height * width, hidden_features, bias=not batch_norm)
        self.fc_norm = _norm1d(hidden_features, batch_norm)
        self.out_features = hidden_features

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x.reshape(-1, *self.image_shape)))
        h = F.elu(self.norm(h)).flatten(1)
        return F.elu(self.fc_norm(self.fc(h)))


class GatedConvBody(nn.Module):
    r"""The Sylvester-flows encoder body: five 5x5 gated convolutions, then a 7x7 gated one to 256.

    References:
        | Sylvester Normalizing Flows for Variational Inference (van den Berg et al., 2018)
        | https://arxiv.org/abs/1803.05649

    Arguments:
        image_shape: ``(channels, 28, 28)``.
        hidden_features: Output size (256 in the paper).

    Example:
        >>> GatedConvBody(hidden_features=16)(torch.rand(2, 784)).shape
        torch.Size([2, 16])
    """

    def __init__(self, image_shape: Sequence[int] = (1, 28, 28), hidden_features: int = 256):
        super().__init__()
        self.image_shape = tuple(image_shape)
        if self.image_shape[1:] != (28, 28):
            raise ValueError(f"the gated convolutional encoder expects 28x28 images, got {self.image_shape}")
        c = self.image_shape[0]
        self.layers = nn.Sequential(
            GatedConv2d(c, 32, 5, 1, 2),
            GatedConv2d(32, 32, 5, 2, 2),
            GatedConv2d(32, 64, 5, 1, 2),
            GatedConv2d(64, 64, 5, 2, 2),
            GatedConv2d(64, 64, 5, 1, 2),
            GatedConv2d(64, hidden_features, 7, 1, 0),
        )
        self.out_features = hidden_features

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x.reshape(-1, *self.image_shape)).flatten(1)


class DenseBody(nn.Module):
    r"""Fully connected layers, each of which also sees the raw input; the output is ``[h, x]``.

    Each layer is linear on the concatenation of the previous layer and the input, then
    ELU, then batch norm (karstenkreis/flow_vae's NONCONV encoder).

    Arguments:
        in_features: Input size.
        hidden_features: Widths of the hidden layers.
        batch_norm: Whether to use batch norm.

    Example:
        >>> body = DenseBody(6, [5, 4])
        >>> body(torch.rand(3, 6)).shape, body.out_features
        (torch.Size([3, 10]), 10)
    """

    def __init__(
        self, in_features: int, hidden_features: Sequence[int] = (300, 300), batch_norm: bool = True
    ):
        super().__init__()
        layers, norms, previous = [], [], 0
        for units in hidden_features:
            layers.append(nn.Linear(previous + in_features, units))
            norms.append(_norm1d(units, batch_norm))
            previous = units
        self.layers, self.norms = nn.ModuleList(layers), nn.ModuleList(norms)
        self.in_features = in_features
        self.out_features = previous + in_features

    def forward(self, x: Tensor) -> Tensor:
        x = x.reshape(-1, self.in_features)
        h = x[:, :0]
        for layer, norm in zip(self.layers, self.norms):
            h = norm(F.elu(layer(torch.cat([h, x], -1))))
        return torch.cat([h, x], -1)


class Encoder(nn.Module):
    r"""A body followed by Gaussian heads: ``x -> (mean, log_std, context)``.

    The mean/log-std head and the context head are linear maps of the body's output, each
    without bias and followed by batch norm when ``batch_norm`` (karstenkreis/flow_vae); the context has
    no activation. The posterior adds its offset to ``log_std``.

    Arguments:
        body: A module with ``out_features``.
        latent_features: Latent size L.
        context_features: Size of the context for the IAF steps (0 for none).
        batch_norm: Batch norm on the heads.

    Example:
        >>> encoder = Encoder(DenseBody(6, [5]), latent_features=2, context_features=3)
        >>> [t.shape for t in encoder(torch.rand(4, 6))]
        [torch.Size([4, 2]), torch.Size([4, 2]), torch.Size([4, 3])]
    """

    def __init__(
        self, body: nn.Module, latent_features: int, context_features: int = 0, batch_norm: bool = True
    ):
        super().__init__()
        self.body = body
        self.latent_features = latent_features
        body_features = cast(int, body.out_features)  # every body sets it
        self.gaussian = nn.Linear(body_features, 2 * latent_features, bias=not batch_norm)
        self.gaussian_norm = _norm1d(2 * latent_features, batch_norm)
        self.context = (
            nn.Sequential(
                nn.Linear(body_features, context_features, bias=not batch_norm),
                _norm1d(context_features, batch_norm),
            )
            if context_features
            else None
        )

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor | None]:
        h = self.body(x)
        mean, log_std = self.gaussian_norm(self.gaussian(h)).chunk(2, -1)
        return mean, log_std, self.context(h) if self.context is not None else None
