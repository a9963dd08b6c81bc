"""The 2-D flow gallery's pictures: what a flow trained on a toy density learned, layer by layer.

The training is :func:`maflow.train.toy.train_toy_flow` (the one Trainer).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch

from maflow.utils.io import atomic_write
from maflow.utils.optional import skip_without_matplotlib

__all__ = [
    "layer_outputs",
    "save_density",
    "save_samples_over_data",
    "save_point_flow",
    "save_x2z_z2x",
    "save_overview",
]


def _leaves(transform) -> list:
    from maflow.transforms.base import CompositeTransform

    if isinstance(transform, CompositeTransform):
        return [leaf for t in transform.transforms for leaf in _leaves(t)]
    return [transform]


@torch.no_grad()
def layer_outputs(model, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """``x`` and its image after every layer of the model's transform (data to noise)."""
    outputs = [("data x", x)]
    for index, layer in enumerate(_leaves(model.transform), 1):
        x = layer(x)[0]
        outputs.append((f"{index}: {type(layer).__name__}", x))
    return outputs


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _save(figure, path, dpi: int = 80) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return Path(path)


def _colours(x: torch.Tensor) -> np.ndarray:
    # Colour each point by its position in data space, so it can be followed through layers.
    from matplotlib import colormaps

    angle = torch.atan2(x[:, 1] - x[:, 1].mean(), x[:, 0] - x[:, 0].mean()).numpy()
    return colormaps["hsv"]((angle + np.pi) / (2 * np.pi))


def _square(axes, limit: float = 3.0, title: str | None = None):
    axes.set_xlim(-limit, limit)
    axes.set_ylim(-limit, limit)
    axes.set_aspect("equal")
    axes.set_xticks([])
    axes.set_yticks([])
    if title:
        axes.set_title(title, fontsize=9)


@torch.no_grad()
def _draw_density(axes, model, limit: float = 3.0, resolution: int = 160):
    grid = torch.linspace(-limit, limit, resolution)
    xx, yy = torch.meshgrid(grid, grid, indexing="xy")
    density = model.log_prob(torch.stack([xx, yy], -1).reshape(-1, 2)).exp().reshape(resolution, resolution)
    axes.imshow(density.numpy(), extent=(-limit, limit, -limit, limit), origin="lower", cmap="magma")
    _square(axes, limit, "density p(x)")


@torch.no_grad()
def _draw_samples(axes, model, data: torch.Tensor, count: int, limit: float = 3.0):
    samples = model.sample((count,))
    axes.scatter(*data[:count].T, s=2, c="0.75", label="data")
    axes.scatter(*samples.T, s=2, c="tab:red", label="samples")
    _square(axes, limit, "z → x: samples over data")


@torch.no_grad()
def _draw_x2z(axes, model, data: torch.Tensor, count: int, limit: float = 3.0):
    z = model.transform(data[:count])[0]
    base = model.base.sample((count,))
    axes.scatter(*base.T, s=2, c="0.75")
    axes.scatter(*z.T, s=2, c=_colours(data[:count]))
    _square(axes, limit, "x → z: f(data) over base samples")


@skip_without_matplotlib
def save_density(model, path, limit: float = 3.0) -> Path | None:
    figure = _figure(3.2, 3.2)
    _draw_density(figure.add_subplot(), model, limit)
    return _save(figure, path)


@skip_without_matplotlib
def save_samples_over_data(model, data: torch.Tensor, path, count: int = 2000) -> Path | None:
    figure = _figure(3.2, 3.2)
    _draw_samples(figure.add_subplot(), model, data, count)
    return _save(figure, path)


@skip_without_matplotlib
def save_x2z_z2x(model, data: torch.Tensor, path, count: int = 2000) -> Path | None:
    """janosh/torch-mnf's pair of panels: data mapped to noise, and noise mapped to data."""
    figure = _figure(6.4, 3.2)
    _draw_x2z(figure.add_subplot(1, 2, 1), model, data, count)
    _draw_samples(figure.add_subplot(1, 2, 2), model, data, count)
    return _save(figure, path)


@skip_without_matplotlib
def save_point_flow(model, data: torch.Tensor, path, count: int = 1000, max_panels: int = 24) -> Path | None:
    """Data points after every layer, coloured by where they started (evenly thinned past ``max_panels``)."""
    outputs = layer_outputs(model, data[:count])
    if len(outputs) > max_panels:
        keep = np.unique(np.linspace(0, len(outputs) - 1, max_panels).round().astype(int))
        outputs = [outputs[i] for i in keep]
    columns = min(len(outputs), 8)
    rows = math.ceil(len(outputs) / columns)
    figure = _figure(1.6 * columns, 1.75 * rows)
    colours = _colours(data[:count])
    for index, (title, points) in enumerate(outputs):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.scatter(*points.T, s=1, c=colours)
        limit = max(3.0, float(points.abs().max()) * 1.05) if index else 3.0
        _square(axes, min(limit, 8.0), title)
    return _save(figure, path)


@skip_without_matplotlib
def save_overview(model, data: torch.Tensor, path, title: str = "", count: int = 2000) -> Path | None:
    """Density, x → z and z → x side by side: the gallery's one-line summary of a flow."""
    figure = _figure(9.6, 3.3)
    _draw_density(figure.add_subplot(1, 3, 1), model)
    _draw_x2z(figure.add_subplot(1, 3, 2), model, data, count)
    _draw_samples(figure.add_subplot(1, 3, 3), model, data, count)
    if title:
        figure.suptitle(title, fontsize=10)
    return _save(figure, path)
