"""Image data sets: MNIST (logit and grey), Fashion-MNIST, statically binarized MNIST, 8x8 digits."""

from __future__ import annotations

import numpy as np

from maflow.data.files import read_amat, read_idx
from maflow.data.preprocess import dequantize_logit, tail_split
from maflow.data.source import Source
from maflow.errors import DataError

__all__ = [
    "IDX_FILES",
    "AMAT_FILES",
    "read_mnist_idx",
    "prepare_logit_mnist",
    "prepare_grey_mnist",
    "prepare_binarized_mnist",
    "prepare_digits",
]

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
AMAT_FILES = ("binarized_mnist_train.amat", "binarized_mnist_valid.amat", "binarized_mnist_test.amat")


def read_mnist_idx(source: Source, num_val: int):
    """Reads the four IDX files and splits them: train = the first N - num_val training images,
    validation = the last num_val, test = the test file. Returns uint8 pixels (N, 784) and labels."""
    arrays = {name: read_idx(source.paths[name], source.content(name)) for name in IDX_FILES}
    images = {"train": arrays[IDX_FILES[0]], "test": arrays[IDX_FILES[2]]}
    labels = {"train": arrays[IDX_FILES[1]], "test": arrays[IDX_FILES[3]]}
    for part, name in (("train", IDX_FILES[0]), ("test", IDX_FILES[2])):
        x, y = images[part], labels[part]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or x.dtype != np.uint8:
            raise DataError(
                f"{source.paths[name]} holds {x.dtype} images of shape {x.shape[1:]}, expected 28x28 uint8"
            )
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise DataError(
                f"{source.folder}: {x.shape[0]} {part} images but {y.shape[0] if y.ndim == 1 else y.shape} "
                "labels; the image and label files do not belong together"
            )
    if images["train"].shape[0] <= num_val:
        raise DataError(
            f"{source.paths[IDX_FILES[0]]} has {images['train'].shape[0]} images; the split needs more than "
            f"the {num_val} validation images (the canonical file has 60,000)"
        )
    cut = images["train"].shape[0] - num_val
    flat = lambda a: a.reshape(a.shape[0], -1)
    pixels = {
        "train": flat(images["train"][:cut]),
        "val": flat(images["train"][cut:]),
        "test": flat(images["test"]),
    }
    classes = {"train": labels["train"][:cut], "val": labels["train"][cut:], "test": labels["test"]}
    return pixels, {k: v.astype(np.int64) for k, v in classes.items()}


def _with_labels(arrays: dict, labels: dict) -> dict:
    return {**arrays, **{f"{split}_labels": y for split, y in labels.items()}}


def prepare_logit_mnist(source: Source, num_val: int = 10_000, seed: int = 42, lam: float = 1e-6) -> dict:
    """MAF preprocessing (gpapamak/maf ``datasets/mnist.py``): x = (pixel + U(0,1)) / 256 with one
    RandomState(seed) drawn for train, then validation, then test; y = logit(lam + (1 - 2 lam) x)."""
    pixels, labels = read_mnist_idx(source, num_val)
    rng = source.rng(seed)
    arrays = {}
    for split in ("train", "val", "test"):  # this order fixes which noise each image gets
        arrays[split] = dequantize_logit(pixels[split], 256, rng, lam)
    return _with_labels(arrays, labels)


def prepare_grey_mnist(source: Source, num_val: int = 10_000) -> dict:
    """Pixels / 255 in [0, 1], same split as ``mnist``; no noise (for the VAE and the classifier)."""
    pixels, labels = read_mnist_idx(source, num_val)
    return _with_labels(
        {split: (x / np.float32(255)).astype(np.float32) for split, x in pixels.items()}, labels
    )


def prepare_binarized_mnist(source: Source, features: int = 784) -> dict:
    """Larochelle and Murray's fixed binarisation, used as distributed (50k / 10k / 10k)."""
    arrays = {}
    for split, name in zip(("train", "val", "test"), AMAT_FILES):
        arrays[split] = read_amat(source.paths[name + ".gz"], features, source.content(name + ".gz"))
    return arrays


def prepare_digits(source: Source, seed: int = 42, lam: float = 1e-6) -> dict:
    """scikit-learn's 8x8 digits (values 0..16), MAF style: one RandomState(seed) first permutes the
    rows, the tail rule splits them, then x = (v + U(0,1)) / 17 is drawn train, val, test, and
    y = logit(lam + (1 - 2 lam) x)."""
    from maflow.utils.optional import require

    require("sklearn", "the 8x8 digits data set")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    rng = source.rng(seed)
    order = rng.permutation(bunch.data.shape[0])
    values, targets = bunch.data[order], bunch.target[order].astype(np.int64)
    arrays, labels = {}, {}
    for split, x, y in zip(("train", "val", "test"), tail_split(values), tail_split(targets)):
        arrays[split] = dequantize_logit(x, 17, rng, lam)
        labels[split] = y
    return _with_labels(arrays, labels)
