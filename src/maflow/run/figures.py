"""Figures: image grids of samples, and marginals and pairwise scatters of u = f(x) against N(0, 1)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from maflow.utils.io import atomic_write
from maflow.utils.optional import skip_without_matplotlib

__all__ = ["save_image_grid", "save_u_marginals", "save_u_scatter", "save_sample_scatter"]


def _figure(width: float, height: float):
    # Figure without pyplot: no global state and no GUI backend, safe in background runs.
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _panel(figure, rows: int, columns: int, index: int, title: str):
    """Panel ``index`` (from 0) of a grid of small panels, titled."""
    axes = figure.add_subplot(rows, columns, index + 1)
    axes.set_title(title, fontsize=8)
    axes.tick_params(labelsize=6)
    return axes


def _finish(figure, title: str, path: str | Path) -> Path:
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    return _save(figure, path)


def _save(figure, path: str | Path, dpi: int = 100) -> Path:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return Path(path)


@skip_without_matplotlib
def save_image_grid(images, image_shape, path: str | Path, columns: int | None = None) -> Path | None:
    """Saves rows of ``images`` (values in [0, 1], planar ``(C, H, W)`` layout) as one grid.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     save_image_grid(np.random.rand(6, 16), (1, 4, 4), Path(d) / "g.png").is_file()
        True
    """
    images = np.clip(np.asarray(images, dtype=np.float64), 0.0, 1.0).reshape(-1, *image_shape)
    channels, height, width = image_shape
    count = len(images)
    if count == 0:
        return None  # nothing to draw (every sample was non-finite): the caller says so
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    grid = np.ones((rows * (height + 1) + 1, columns * (width + 1) + 1, channels))
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        grid[1 + r * (height + 1) : (r + 1) * (height + 1), 1 + c * (width + 1) : (c + 1) * (width + 1)] = (
            image.transpose(1, 2, 0)
        )
    figure = _figure(columns * 0.6 + 0.5, rows * 0.6 + 0.5)
    axes = figure.add_subplot()
    if channels == 1:
        axes.imshow(grid[..., 0], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        axes.imshow(grid, interpolation="nearest")
    axes.set_axis_off()
    return _save(figure, path, dpi=150)


def _dimensions(features: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(features, size=min(count, features), replace=False))


@skip_without_matplotlib
def save_u_marginals(u, path: str | Path, num_panels: int = 24, seed: int = 0) -> Path | None:
    """Histograms of randomly chosen dimensions of ``u = f(x)`` with the N(0, 1) density on top.

    A perfect data-to-noise map makes every panel a standard normal (e-hulten/maf's figure).
    """
    u = np.asarray(u, dtype=np.float64)
    dims = _dimensions(u.shape[1], num_panels, seed)
    columns = min(6, len(dims))
    rows = math.ceil(len(dims) / columns)
    figure = _figure(2.2 * columns, 1.8 * rows)
    grid = np.linspace(-5, 5, 201)
    normal = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
    for k, d in enumerate(dims):
        axes = _panel(figure, rows, columns, k, f"u[{d}]")
        values = u[:, d][np.isfinite(u[:, d])]
        axes.hist(np.clip(values, -5, 5), bins=40, range=(-5, 5), density=True, color="tab:blue", alpha=0.6)
        axes.plot(grid, normal, color="black", linewidth=1)
    return _finish(figure, f"Marginals of u = f(x) on {len(u)} test points vs N(0, 1)", path)


@skip_without_matplotlib
def save_u_scatter(u, path: str | Path, num_panels: int = 24, seed: int = 0) -> Path | None:
    """Scatter plots of random pairs of dimensions of ``u = f(x)``; N(0, I) would be a round blob."""
    u = np.asarray(u, dtype=np.float64)
    rng = np.random.default_rng(seed)
    features = u.shape[1]
    columns = 6
    rows = math.ceil(num_panels / columns)
    figure = _figure(2.0 * columns, 2.0 * rows)
    for k in range(num_panels):
        i, j = rng.choice(features, size=2, replace=features < 2)
        axes = _panel(figure, rows, columns, k, f"u[{i}] vs u[{j}]")
        axes.scatter(u[:, i], u[:, j], s=1, alpha=0.4, color="tab:blue")
        axes.set_xlim(-8, 8)
        axes.set_ylim(-8, 8)
        axes.set_aspect("equal")
    return _finish(figure, f"Pairs of dimensions of u = f(x) on {len(u)} test points", path)


@skip_without_matplotlib
def save_sample_scatter(samples, data, path: str | Path, max_dims: int = 4) -> Path | None:
    """Pairwise scatter of the first dimensions of model samples next to data (non-image sets)."""
    samples, data = np.asarray(samples), np.asarray(data)
    dims = min(max_dims, samples.shape[1])
    if dims == 1:
        figure = _figure(4, 3)
        axes = figure.add_subplot()
        axes.hist(data[:, 0], bins=50, density=True, alpha=0.5, label="data")
        axes.hist(samples[:, 0], bins=50, density=True, alpha=0.5, label="model")
        axes.legend()
        return _save(figure, path)
    pairs = [(i, j) for i in range(dims) for j in range(i + 1, dims)]
    figure = _figure(3.0 * len(pairs), 3.0)
    for k, (i, j) in enumerate(pairs):
        axes = figure.add_subplot(1, len(pairs), k + 1)
        axes.scatter(data[:, i], data[:, j], s=1, alpha=0.3, color="gray", label="data")
        axes.scatter(samples[:, i], samples[:, j], s=1, alpha=0.5, color="tab:red", label="model")
        axes.set_title(f"x[{i}] vs x[{j}]", fontsize=8)
    figure.axes[0].legend(fontsize=6, markerscale=5)
    figure.tight_layout()
    return _save(figure, path)
