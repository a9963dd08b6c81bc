"""Draws docs/img/data_<name>.png for every data set whose files are present (sample grids for
images, pair plots for tabular data, scatter plots for the 2-D toys, row images for binary sets).

Usage: python scripts/dataset_pictures.py [--data-dir DIR] [--out docs/img]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from maflow.data import DATASETS, load  # noqa: E402
from maflow.data.files import read_npy  # noqa: E402
from maflow.errors import DataError  # noqa: E402


def image_grid(ds, path, rows=6, cols=10):
    x = np.asarray(ds.to_unit(ds.train[: rows * cols].astype(np.float64)))
    c, h, w = ds.image_shape
    x = x.reshape(rows, cols, c, h, w).transpose(0, 3, 1, 4, 2).reshape(rows * h, cols * w, c)
    fig = plt.figure(figsize=(cols * 0.45, rows * 0.45), dpi=80)
    plt.imshow(x[..., 0] if c == 1 else x, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    plt.axis("off")
    plt.title(f"{ds.name}: first {rows * cols} training images", fontsize=8)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def pair_plot(x, name, path, dims=4, points=1000):
    x = x[:points, :dims]
    fig, axes = plt.subplots(dims, dims, figsize=(5, 5), dpi=70)
    for i in range(dims):
        for j in range(dims):
            ax = axes[i, j]
            if i == j:
                ax.hist(x[:, i], bins=30, color="C0")
            else:
                ax.scatter(x[:, j], x[:, i], s=1, alpha=0.4, color="C0")
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"{name}: first {dims} dimensions, {len(x)} points", fontsize=9)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def toy_scatter(ds, path):
    fig = plt.figure(figsize=(2.4, 2.4), dpi=80)
    plt.scatter(ds.train[:3000, 0], ds.train[:3000, 1], s=0.5, alpha=0.5)
    plt.title(ds.name, fontsize=8)
    plt.axis("equal")
    plt.xticks([])
    plt.yticks([])
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def binary_rows(ds, path, rows=100):
    fig = plt.figure(figsize=(5, 2.2), dpi=80)
    plt.imshow(ds.train[:rows], cmap="gray_r", aspect="auto", interpolation="nearest")
    plt.title(f"{ds.name}: first {rows} training rows x {ds.features} bits", fontsize=8)
    plt.xticks([])
    plt.yticks([])
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--out", default="docs/img")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, spec in DATASETS.items():
        if name in ("mnist_grey", "dynamic_binarized_mnist"):
            continue  # the same images as mnist
        path = out / f"data_{name}.png"
        try:
            ds = load(name, args.data_dir)
        except DataError:
            if (
                name == "miniboone"
                and args.data_dir
                and (Path(args.data_dir) / "miniboone" / "test.npy").is_file()
            ):
                pair_plot(
                    read_npy(Path(args.data_dir) / "miniboone" / "test.npy"), "miniboone (test split)", path
                )
                print(path)
            continue
        if spec.kind == "toy":
            toy_scatter(ds, path)
        elif ds.image_shape is not None:
            image_grid(ds, path)
        elif spec.kind == "binary":
            binary_rows(ds, path)
        else:
            pair_plot(ds.train, name, path)
        print(path)


if __name__ == "__main__":
    main()
