"""Multi-scale image flows in the style of Real NVP and Glow, on flattened images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from maflow.distributions.flow import Flow
from maflow.distributions.normal import StandardNormal
from maflow.models.config import constructor_config
from maflow.transforms.base import Transform
from maflow.transforms.image import ActNorm2d, Conv1x1, ImageCoupling, squeeze, unsqueeze

__all__ = ["MultiScaleTransform", "MultiScaleFlow", "infer_image_shape"]

_SQUEEZE = "squeeze"


def infer_image_shape(features: int) -> tuple[int, int, int]:
    """``(C, H, W)`` of a flattened square image with 1 or 3 channels (784: MNIST, 3072: CIFAR-10)."""
    for channels in (1, 3):
        side = math.isqrt(features // channels)
        if channels * side * side == features:
            return channels, side, side
    raise ValueError(f"cannot read {features} features as a square image: pass image_shape=(C, H, W)")


class MultiScaleTransform(Transform):
    r"""Levels of image flow steps with factor-out: half the channels leave for the base after each level.

    ``forward`` maps a flattened image to the concatenation of every level's factored-out
    variables and the last level's output (a vector of the same size), so the base is a
    standard normal over all of them, as in Real NVP and Glow. A level is

    * ``"realnvp"``: 3 checkerboard couplings, squeeze, 3 channel couplings (the last
      level: 4 checkerboard couplings), tanh-bounded scales;
    * ``"glow"``: squeeze, then ``steps`` x [ActNorm, invertible 1x1 convolution, channel
      coupling with Glow's sigmoid scale].

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803
        | Glow: Generative Flow with Invertible 1x1 Convolutions (Kingma & Dhariwal, 2018)
        | https://arxiv.org/abs/1807.03039

    Arguments:
        image_shape: ``(C, H, W)``; H and W must halve ``levels`` times (Glow) or
            ``levels - 1`` times (Real NVP).
        kind: ``"realnvp"`` or ``"glow"``.
        levels: Number of scales.
        steps: Flow steps per level (Glow only).
        hidden_channels: Width of every coupling's conditioning net.
        seed: Seed of the 1x1 convolutions' random rotations.
    """

    def __init__(
        self,
        image_shape: Sequence[int],
        kind: str = "realnvp",
        levels: int = 2,
        steps: int = 4,
        hidden_channels: int = 64,
        seed: int = 0,
    ):
        super().__init__()
        if kind not in ("realnvp", "glow"):
            raise ValueError(f"unknown multi-scale kind {kind!r}: use realnvp or glow")
        channels, height, width = (int(s) for s in image_shape)
        halvings = levels if kind == "glow" else levels - 1
        if levels < 1 or height % 2**halvings or width % 2**halvings:
            raise ValueError(
                f"a {height}x{width} image cannot be squeezed {halvings} times ({levels} levels)"
            )
        self.image_shape = (channels, height, width)
        self.levels = nn.ModuleList()
        self.plan: list[list[str]] = []
        for level in range(levels):
            last = level == levels - 1
            ops, layers = [], nn.ModuleList()
            if kind == "realnvp":
                for parity in range(4 if last else 3):
                    layers.append(ImageCoupling(channels, "checkerboard", parity, hidden_channels, "tanh"))
                    ops.append("layer")
                if not last:
                    ops.append(_SQUEEZE)
                    channels *= 4
                    for parity in range(3):
                        layers.append(ImageCoupling(channels, "channel", parity, hidden_channels, "tanh"))
                        ops.append("layer")
            else:
                ops.append(_SQUEEZE)
                channels *= 4
                for step in range(steps):
                    layers.append(ActNorm2d(channels))
                    layers.append(Conv1x1(channels, seed + 100 * level + step))
                    layers.append(ImageCoupling(channels, "channel", step, hidden_channels, "sigmoid"))
                    ops += ["layer"] * 3
            self.levels.append(layers)
            self.plan.append(ops)
            if not last:
                channels -= channels // 2  # the first half is factored out

    def forward(self, x: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = x.reshape(x.shape[0], *self.image_shape)
        total = x.new_zeros(x.shape[0])
        factored = []
        for index, (layers, ops) in enumerate(zip(self.levels, self.plan)):
            layer_iter = iter(layers)
            for op in ops:
                if op == _SQUEEZE:
                    h = squeeze(h)
                else:
                    h, logabsdet = next(layer_iter)(h)
                    total = total + logabsdet
            if index < len(self.levels) - 1:
                half = h.shape[1] // 2
                factored.append(h[:, :half].flatten(1))
                h = h[:, half:]
        factored.append(h.flatten(1))
        return torch.cat(factored, dim=1), total

    def inverse(self, z: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        shapes = self._level_shapes()
        sizes = [math.prod(s) for s in shapes]
        parts = list(z.split(sizes, dim=1))
        h = parts.pop().reshape(z.shape[0], *shapes[-1])
        total = z.new_zeros(z.shape[0])
        for index in range(len(self.levels) - 1, -1, -1):
            if index < len(self.levels) - 1:
                h = torch.cat([parts.pop().reshape(z.shape[0], *shapes[index]), h], dim=1)
            layers = list(self.levels[index])
            for op in reversed(self.plan[index]):
                if op == _SQUEEZE:
                    h = unsqueeze(h)
                else:
                    h, logabsdet = layers.pop().inverse(h)
                    total = total + logabsdet
        return h.flatten(1), total

    def _level_shapes(self) -> list[tuple[int, int, int]]:
        """Shapes of the factored-out parts, level by level, then of the last level's output."""
        channels, height, width = self.image_shape
        shapes = []
        for index, ops in enumerate(self.plan):
            for op in ops:
                if op == _SQUEEZE:
                    channels, height, width = 4 * channels, height // 2, width // 2
            if index < len(self.plan) - 1:
                shapes.append((channels // 2, height, width))
                channels -= channels // 2
        shapes.append((channels, height, width))
        return shapes


class MultiScaleFlow(Flow):
    """A multi-scale Real NVP or Glow on flattened images, N(0, I) base; see :class:`MultiScaleTransform`.

    Arguments:
        features: Number of pixels times channels.
        kind: ``"realnvp"`` or ``"glow"``.
        image_shape: ``(C, H, W)``; by default read from ``features`` (a square image with
            1 or 3 channels).
        levels, steps, hidden_channels, seed: As :class:`MultiScaleTransform`.

    Example:
        >>> import torch
        >>> flow = MultiScaleFlow(64, kind="glow", levels=2, steps=2, hidden_channels=8)
        >>> flow.log_prob(torch.randn(3, 64)).shape, flow.sample((2,)).shape
        (torch.Size([3]), torch.Size([2, 64]))
    """

    def __init__(
        self,
        features: int,
        kind: str = "realnvp",
        image_shape: Sequence[int] | None = None,
        levels: int = 2,
        steps: int = 4,
        hidden_channels: int = 64,
        seed: int = 0,
        context_features: int | None = None,
    ):
        config = constructor_config(locals())
        if context_features:
            raise ValueError("multi-scale image flows take no context")
        shape = tuple(image_shape) if image_shape is not None else infer_image_shape(features)
        if math.prod(shape) != features:
            raise ValueError(f"image_shape {shape} holds {math.prod(shape)} values, not {features}")
        transform = MultiScaleTransform(shape, kind, levels, steps, hidden_channels, seed)
        super().__init__(transform, StandardNormal(features), features, None)
        self.config = config
