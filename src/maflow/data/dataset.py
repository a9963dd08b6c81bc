"""The ``Dataset`` returned by ``maflow.data.load``: preprocessed splits plus what they mean."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from maflow.data.preprocess import inverse_logit_transform
from maflow.data.spec import DatasetSpec
from maflow.errors import DataError

if TYPE_CHECKING:
    from maflow.data.context import Context
    from maflow.data.standardize import Standardization

__all__ = ["Dataset", "SPLITS"]

SPLITS = ("train", "val", "test")


@dataclass(eq=False)
class Dataset:
    """Train, validation and test splits, already preprocessed exactly as used for training.

    Arguments:
        name: registry name.
        kind: ``"image"``, ``"tabular"``, ``"binary"``, ``"toy"``, or ``"arrays"`` (one's own data,
            :func:`maflow.data.from_numpy`, ``maflow train --data``).
        features: dimension D; every split is a float32 array of shape (N, D).
        train, val, test: the splits.
        train_labels, val_labels, test_labels: int64 class labels, or None.
        image_shape: (C, H, W) for images (planar, so ``x.reshape(-1, *image_shape)`` is an image).
        logit_lambda: lambda of the logit transform the splits are in, or None.
        quantization_levels: pixel levels of the source images (256 for 8-bit), or None.
        num_classes: number of classes, or None.
        spec: the registry entry.
        standardization: for one's own data, the per-column standardisation the splits are in
            (a :class:`maflow.data.standardize.Standardization`; its ``log_abs_det`` turns
            model-space log-densities into the data's units), else None.
        context: for a conditional data set of one's own, a :class:`maflow.data.context.Context`
            (one context row per row of each split), else None.
        origin: for one's own data, where the rows came from and how they were split (plain
            values, stored in checkpoints), else None.

    Example:
        >>> from maflow.data import load
        >>> ds = load("digits")
        >>> ds.train.shape, ds.kind, ds.image_shape, ds.logit_lambda
        ((1457, 64), 'image', (1, 8, 8), 1e-06)
    """

    name: str
    kind: str
    features: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    train_labels: np.ndarray | None = None
    val_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    image_shape: tuple[int, int, int] | None = None
    logit_lambda: float | None = None
    quantization_levels: int | None = None
    num_classes: int | None = None
    spec: DatasetSpec | None = field(default=None, repr=False)
    standardization: Standardization | None = field(default=None, repr=False)
    context: Context | None = field(default=None, repr=False)
    origin: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def context_features(self) -> int | None:
        """Columns of the model's context (None without one)."""
        return None if self.context is None else self.context.features

    @property
    def log_abs_det(self) -> float:
        """Add to a model-space log-density to get one in the data's units (0 without standardisation)."""
        return 0.0 if self.standardization is None else self.standardization.log_abs_det

    def __repr__(self) -> str:
        sizes = "/".join(str(len(getattr(self, split))) for split in SPLITS)
        return f"Dataset({self.name!r}, kind={self.kind!r}, features={self.features}, splits={sizes})"

    def split(self, name: str) -> np.ndarray:
        """The split called ``"train"``, ``"val"`` or ``"test"``."""
        if name not in SPLITS:
            raise ValueError(f"unknown split {name!r}; use one of {SPLITS}")
        return getattr(self, name)

    def labels(self, name: str) -> np.ndarray | None:
        """The labels of split ``name``, or None."""
        self.split(name)
        return getattr(self, f"{name}_labels")

    def to_unit(self, x):
        """Maps points in the training space back to intensities in [0, 1] (inverse logit for
        logit-space data; identity otherwise). Accepts numpy arrays and torch tensors."""
        if self.logit_lambda is None:
            return x
        return inverse_logit_transform(x, self.logit_lambda)

    def validate(self) -> Dataset:
        """Checks dtypes, shapes, finiteness and label lengths; raises DataError naming the problem."""
        for split in SPLITS:
            x = getattr(self, split)
            if not isinstance(x, np.ndarray) or x.ndim != 2 or x.shape[1] != self.features:
                shape = getattr(x, "shape", None)
                raise DataError(
                    f"{self.name}: the {split} split has shape {shape}, expected (N, {self.features}); "
                    "the file is corrupt or belongs to another data set"
                )
            if x.dtype != np.float32:
                raise DataError(f"{self.name}: the {split} split is {x.dtype}, expected float32")
            if x.shape[0] == 0:
                raise DataError(f"{self.name}: the {split} split has no rows; every split needs at least one")
            bad = ~np.isfinite(x)
            if bad.any():
                rows = np.flatnonzero(bad.any(axis=1))
                raise DataError(
                    f"{self.name}: the {split} split contains NaN or Inf in {rows.size} row(s) "
                    f"(first at row {rows[0]}); the source file is corrupt or was preprocessed wrongly"
                )
            if self.context is not None and self.context.split(split).shape[0] != x.shape[0]:
                raise DataError(
                    f"{self.name}: the {split} split has {x.shape[0]} rows but {self.context.split(split).shape[0]} "
                    "context rows; give one context row per data row"
                )
            labels = getattr(self, f"{split}_labels")
            if labels is not None:
                if labels.dtype != np.int64 or labels.shape != (x.shape[0],):
                    raise DataError(
                        f"{self.name}: {split} labels have shape {labels.shape} and dtype {labels.dtype}, "
                        f"expected ({x.shape[0]},) int64"
                    )
                if (
                    self.num_classes is not None
                    and labels.size
                    and not (0 <= labels.min() and labels.max() < self.num_classes)
                ):
                    raise DataError(f"{self.name}: {split} labels outside 0..{self.num_classes - 1}")
        if self.train.shape[0] < 2 or not (self.train != self.train[:1]).any():
            raise DataError(
                f"{self.name}: the train split has {self.train.shape[0]} row(s), all identical: a density "
                "fitted to one point grows without bound; give at least two different rows"
            )
        return self
