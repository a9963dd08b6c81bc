"""The 2-D flow gallery: train a flow on a toy density and draw what it learned, layer by layer."""

from __future__ import annotations

import io
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from maflow.utils.io import atomic_write
from maflow.utils.optional import skip_without_matplotlib

__all__ = [
    "TOY_FLOWS",
    "toy_splits",
    "train_toy_flow",
    "layer_outputs",
    "save_density",
    "save_samples_over_data",
    "save_point_flow",
    "save_x2z_z2x",
    "save_overview",
]

# Builder name -> options for a 2-D toy (small nets, enough layers to bend the moons).
TOY_FLOWS: dict[str, tuple[str, dict[str, Any]]] = {
    "realnvp": ("realnvp", dict(num_layers=8, hidden_features=64)),
    "nice": ("nice", dict(num_layers=6, hidden_features=64)),
    "maf": ("maf", dict(num_layers=5, hidden_features=64)),
    "iaf": ("iaf", dict(num_layers=5, hidden_features=64)),
    "nsf-ar": ("nsf-ar", dict(num_layers=3, hidden_features=32, num_bins=8, tail_bound=4.0)),
    "nsf-cl": ("nsf-cl", dict(num_layers=4, hidden_features=32, num_bins=8, tail_bound=4.0)),
    "naf": ("naf", dict(num_layers=3, hidden_features=32, sigmoid_units=8)),
    "glow": ("glow", dict(num_layers=6, hidden_features=64)),
    "made-mog": ("made-mog", dict(hidden_features=64, num_components=10)),
    "maf-mog": ("maf-mog", dict(num_layers=3, hidden_features=64, num_components=10)),
}


def toy_splits(data: str, seed: int = 0, sizes=(10_000, 2_000)) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and test points of a 2-D toy set, standardised with the training statistics."""
    from maflow.data.toy import TOY_SAMPLERS

    rng = np.random.RandomState(seed)
    train, test = (torch.from_numpy(TOY_SAMPLERS[data](n, rng).astype(np.float32)) for n in sizes)
    mean, std = train.mean(0), train.std(0)
    return (train - mean) / std, (test - mean) / std


def train_toy_flow(
    flow: str,
    train: torch.Tensor,
    test: torch.Tensor,
    steps: int = 3000,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    log_every: int = 500,
    echo=print,
    options: dict | None = None,
    device=None,
    progress: bool | None = None,
):
    """Adam with cosine decay to 0 on minibatches of ``train``; returns the model and a summary.

    ``options`` replace some of the flow's gallery options (``TOY_FLOWS``); the model trains on
    ``device`` and comes back on the CPU; ``progress`` switches the bar (``None``: on a terminal).

    SIGINT or SIGTERM finishes the current step and raises
    :class:`~maflow.run.interrupt.TrainingInterrupted`: a toy run keeps no checkpoint, so the
    message says that nothing was kept and that the command starts over.
    """
    from maflow.models.registry import build_model
    from maflow.run.interrupt import StopSignals, TrainingInterrupted, signal_name
    from maflow.run.progress import progress_bar
    from maflow.transforms.batchnorm import recompute_batchnorm_statistics

    torch.manual_seed(seed)
    builder, defaults = TOY_FLOWS[flow]
    options = {**defaults, **(options or {})}
    model = build_model(builder, 2, **options).to(device)
    train = train.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, max(steps, 1))
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    losses = []
    with StopSignals() as stop, progress_bar(steps, flow, progress, unit="steps") as bar:
        for step in range(1, steps + 1):
            batch = train[torch.randint(0, len(train), (batch_size,), generator=generator)]
            loss = -model.log_prob(batch).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.update(1)
            if echo and (step % log_every == 0 or step == steps):
                echo(f"{flow}: step {step}/{steps} loss {np.mean(losses[-log_every:]):.4f}")
            if stop.received is not None:
                raise TrainingInterrupted(
                    f"stopped by {signal_name(stop.received)} at step {step} of {steps}; a toy run keeps "
                    "no checkpoint, so nothing was kept: run the same command again to start over",
                    stop.received,
                )
    recompute_batchnorm_statistics(model.transform, train)
    model.cpu().eval()
    with torch.no_grad():
        test_ll = model.log_prob(test).double()
    settings = {"flow": flow, "builder": builder, "options": options, "steps": steps}
    summary = dict(
        **settings,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        parameters=sum(p.numel() for p in model.parameters()),
        final_train_loss=float(np.mean(losses[-100:])) if losses else None,
        test_nll=float(-test_ll.mean()),
        test_nll_2se=float(2 * test_ll.std() / math.sqrt(len(test_ll))),
        train_seconds=time.perf_counter() - start,
    )
    return model, summary


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
