"""Two-dimensional toy densities, as fixed seeded samples (the same points on every call)."""

from __future__ import annotations

import numpy as np

from maflow.data.source import Source
from maflow.utils.optional import require

__all__ = ["TOY_SAMPLERS", "prepare_toy"]


def _moons(n, rng):
    require("sklearn", "the toy data set 'moons'")
    from sklearn.datasets import make_moons

    return make_moons(n, noise=0.05, random_state=rng)[0]


def _circles(n, rng):
    require("sklearn", "the toy data set 'circles'")
    from sklearn.datasets import make_circles

    return make_circles(n, noise=0.05, factor=0.5, random_state=rng)[0]


def _blobs(n, rng):
    centres = np.array([[3.0, 3.0], [0.0, 0.0], [-3.0, -3.0]])
    return centres[rng.randint(0, 3, n)] + rng.randn(n, 2)


def _eight_gaussians(n, rng):
    angles = np.arange(8) * np.pi / 4
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return centres[rng.randint(0, 8, n)] + 0.1 * rng.randn(n, 2)


def _checkerboard(n, rng):
    # Uniform on the 8 black squares of a 4x4 board over [-2, 2]^2.
    x1 = rng.rand(n) * 4 - 2
    x2 = rng.rand(n) - rng.randint(0, 2, n) * 2.0 + np.floor(x1) % 2
    return np.stack([x1, x2], axis=1)


def _two_spirals(n, rng):
    t = np.sqrt(rng.rand(n)) * 3 * np.pi  # uniform in arc area, 1.5 turns
    arm = rng.randint(0, 2, n) * 2 - 1
    points = arm[:, None] * np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / 3.0
    return points + 0.1 * rng.randn(n, 2)


def _pinwheel(n, rng, num_arms=5, radial_std=0.3, tangential_std=0.1, rate=0.25):
    arm = rng.randint(0, num_arms, n)
    points = rng.randn(n, 2) * [radial_std, tangential_std] + [1.0, 0.0]
    angles = 2 * np.pi * arm / num_arms + rate * np.exp(points[:, 0])
    cos, sin = np.cos(angles), np.sin(angles)
    return 2.0 * np.stack(
        [cos * points[:, 0] - sin * points[:, 1], sin * points[:, 0] + cos * points[:, 1]], 1
    )


TOY_SAMPLERS = {
    "moons": _moons,
    "circles": _circles,
    "blobs": _blobs,
    "eight_gaussians": _eight_gaussians,
    "checkerboard": _checkerboard,
    "two_spirals": _two_spirals,
    "pinwheel": _pinwheel,
}


def prepare_toy(source: Source, sizes=(10_000, 2_000, 2_000), seed: int = 0) -> dict:
    """Draws train, then validation, then test from one RandomState(seed) (float32, unscaled)."""
    rng = np.random.RandomState(seed)
    sampler = TOY_SAMPLERS[source.spec.name]
    return {split: sampler(n, rng).astype(np.float32) for split, n in zip(("train", "val", "test"), sizes)}
