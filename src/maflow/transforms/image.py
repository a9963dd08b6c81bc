"""Image flow layers on ``(batch, C, H, W)`` tensors: squeeze, ActNorm, invertible 1x1 convolution, couplings."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from maflow.transforms.linear import random_orthogonal

__all__ = ["squeeze", "unsqueeze", "ActNorm2d", "Conv1x1", "ImageCoupling", "conv_net"]


def squeeze(x: Tensor) -> Tensor:
    """``(B, C, H, W) -> (B, 4C, H/2, W/2)``: each 2x2 patch becomes four channels (Real NVP)."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // 2, 2, w // 2, 2)
    return x.permute(0, 1, 3, 5, 2, 4).reshape(b, 4 * c, h // 2, w // 2)


def unsqueeze(x: Tensor) -> Tensor:
    """The inverse of :func:`squeeze`."""
    b, c, h, w = x.shape
    x = x.reshape(b, c // 4, 2, 2, h, w)
    return x.permute(0, 1, 4, 2, 5, 3).reshape(b, c // 4, 2 * h, 2 * w)


def conv_net(in_channels: int, out_channels: int, hidden_channels: int) -> nn.Sequential:
    """3x3, 1x1, 3x3 convolutions with ReLUs; the last starts at zero, so a coupling starts as the identity."""
    last = nn.Conv2d(hidden_channels, out_channels, 3, padding=1)
    nn.init.zeros_(last.weight)
    if last.bias is not None:
        nn.init.zeros_(last.bias)
    return nn.Sequential(
        nn.Conv2d(in_channels, hidden_channels, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(hidden_channels, hidden_channels, 1),
        nn.ReLU(),
        last,
    )


class ActNorm2d(nn.Module):
    r"""Per-channel :math:`y = x e^{s} + b`, initialised from the first training batch (Glow).

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Example:
        >>> norm = ActNorm2d(3)
        >>> y, logabsdet = norm(torch.randn(8, 3, 4, 4) * 5)
        >>> round(y.std().item(), 2), logabsdet.shape
        (1.0, torch.Size([8]))
    """

    initialized: torch.Tensor

    def __init__(self, channels: int):
        super().__init__()
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.shift = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.tensor(False))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if self.training and not bool(self.initialized):
            with torch.no_grad():
                log_scale = -torch.log(x.std((0, 2, 3), unbiased=False, keepdim=True) + 1e-6)
                self.log_scale.copy_(log_scale)
                self.shift.copy_(-x.mean((0, 2, 3), keepdim=True) * torch.exp(log_scale))
                self.initialized.fill_(True)
        pixels = x.shape[2] * x.shape[3]
        return x * torch.exp(self.log_scale) + self.shift, (pixels * self.log_scale.sum()).expand(x.shape[0])

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        pixels = y.shape[2] * y.shape[3]
        x = (y - self.shift) * torch.exp(-self.log_scale)
        return x, (-pixels * self.log_scale.sum()).expand(y.shape[0])


class Conv1x1(nn.Module):
    r"""Glow's invertible 1x1 convolution: one ``C x C`` matrix at every pixel, log|det| = HW log|det W|.

    References:
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Example:
        >>> conv = Conv1x1(4)
        >>> x = torch.randn(2, 4, 3, 3)
        >>> torch.allclose(conv.inverse(conv(x)[0])[0], x, atol=1e-5)
        True
    """

    def __init__(self, channels: int, seed: int = 0):
        super().__init__()
        self.weight = nn.Parameter(random_orthogonal(channels, seed))

    def _logabsdet(self, x: Tensor) -> Tensor:
        return (x.shape[2] * x.shape[3] * torch.linalg.slogdet(self.weight)[1]).expand(x.shape[0])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return F.conv2d(x, self.weight[:, :, None, None]), self._logabsdet(x)

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        inverse = torch.linalg.inv(self.weight)
        return F.conv2d(y, inverse[:, :, None, None]), -self._logabsdet(y)


class ImageCoupling(nn.Module):
    r"""Affine coupling on images with a checkerboard or a channel mask (Real NVP), scaled as Real NVP or Glow.

    The pixels (or channels) the mask keeps pass unchanged and, through a small convolutional
    net, give a log-scale and a shift for the others. ``scale="tanh"``: log-scale
    :math:`s = \tanh(h)` times a learned per-channel factor (Real NVP); ``"sigmoid"``: scale
    :math:`\sigma(h + 2)` (Glow's code). Starts as the identity (zero last convolution) up
    to Glow's constant scale.

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803

    Arguments:
        channels: Number of channels C.
        mask: ``"checkerboard"`` or ``"channel"`` (C must be even).
        parity: Which half is kept (0 or 1).
        hidden_channels: Width of the conditioning net.
        scale: ``"tanh"`` or ``"sigmoid"``.

    Example:
        >>> layer = ImageCoupling(2, mask="channel")
        >>> x = torch.randn(3, 2, 4, 4)
        >>> y, logabsdet = layer(x)
        >>> torch.allclose(layer.inverse(y)[0], x, atol=1e-6)
        True
    """

    def __init__(
        self,
        channels: int,
        mask: str = "checkerboard",
        parity: int = 0,
        hidden_channels: int = 64,
        scale="tanh",
    ):
        super().__init__()
        if mask not in ("checkerboard", "channel") or scale not in ("tanh", "sigmoid"):
            raise ValueError(f"unknown mask {mask!r} or scale {scale!r}")
        if mask == "channel" and channels % 2:
            raise ValueError(f"a channel mask needs an even number of channels, got {channels}")
        self.mask, self.parity, self.scale = mask, parity % 2, scale
        conditioning = channels if mask == "checkerboard" else channels // 2
        transformed = channels if mask == "checkerboard" else channels - channels // 2
        self.net = conv_net(conditioning, 2 * transformed, hidden_channels)
        self.scale_factor = nn.Parameter(torch.ones(1, transformed, 1, 1)) if scale == "tanh" else None

    def _board(self, x: Tensor) -> Tensor:
        h, w = x.shape[2], x.shape[3]
        grid = torch.arange(h, device=x.device)[:, None] + torch.arange(w, device=x.device)[None, :]
        return ((grid % 2) == self.parity).to(x.dtype)[None, None]

    def _split(self, x: Tensor) -> tuple[Tensor, Tensor]:
        half = x.shape[1] // 2
        kept, changed = x[:, :half], x[:, half:]
        return (changed, kept) if self.parity else (kept, changed)

    def _join(self, kept: Tensor, changed: Tensor) -> Tensor:
        return torch.cat([changed, kept] if self.parity else [kept, changed], 1)

    def _log_scale_and_shift(self, conditioning: Tensor) -> tuple[Tensor, Tensor]:
        raw, shift = self.net(conditioning).chunk(2, 1)
        if self.scale == "tanh":
            return self.scale_factor * torch.tanh(raw), shift
        return F.logsigmoid(raw + 2.0), shift

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(x, inverse=False)

    def inverse(self, y: Tensor) -> tuple[Tensor, Tensor]:
        return self._couple(y, inverse=True)

    def _couple(self, x: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        sign = -1.0 if inverse else 1.0
        if self.mask == "checkerboard":
            board = self._board(x)
            log_scale, shift = self._log_scale_and_shift(x * board)
            log_scale, shift = log_scale * (1 - board), shift * (1 - board)
            y = x * torch.exp(log_scale) + shift if not inverse else (x - shift) * torch.exp(-log_scale)
            return y, sign * log_scale.flatten(1).sum(-1)
        kept, changed = self._split(x)
        log_scale, shift = self._log_scale_and_shift(kept)
        if inverse:
            changed = (changed - shift) * torch.exp(-log_scale)
        else:
            changed = changed * torch.exp(log_scale) + shift
        return self._join(kept, changed), sign * log_scale.flatten(1).sum(-1)
