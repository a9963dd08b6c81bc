"""The context of a conditional data set: continuous rows (standardised) or class labels (one-hot)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from maflow.data.array_files import Table
from maflow.data.standardize import Standardization
from maflow.errors import DataError

__all__ = ["Context", "continuous_context", "context_from_labels", "encode_context", "parse_vector"]

_SPLITS = ("train", "val", "test")


@dataclass(eq=False)
class Context:
    """The model-space context of each split and how raw context values map to it.

    Arguments:
        train, val, test: float32 arrays (N, C): standardised continuous values, or one-hot labels.
        record: plain values for the checkpoint: ``kind`` (``"continuous"`` or ``"labels"``) and
            its ``standardization`` or its ``classes`` (the label values, in one-hot order).

    Example:
        >>> c = context_from_labels({s: np.array([[0], [2], [2]]) for s in _SPLITS}, Table("y", {}, None))
        >>> c.features, c.record["classes"], c.train.tolist()[1]
        (2, [0, 2], [0.0, 1.0])
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    record: dict = field(default_factory=dict)

    @property
    def features(self) -> int:
        return self.train.shape[1]

    def split(self, name: str) -> np.ndarray:
        return getattr(self, name)


def continuous_context(splits: dict, table: Table, standardize: bool = True) -> Context:
    """Continuous context standardised with its training split's statistics (constant columns refused)."""
    train = splits["train"]
    spread = train.max(0) - train.min(0)
    if (spread == 0).any():
        column = int(np.flatnonzero(spread == 0)[0])
        raise DataError(
            f"{table.path}: context {table.column_name(column)} is constant in every training row: it "
            "tells the model nothing; leave it out with --context-columns"
        )
    scaling = Standardization.fit(train) if standardize else Standardization.identity(train.shape[1])
    record = {"kind": "continuous", "standardization": scaling.to_record(), "names": table.columns}
    train, val, test = (scaling.apply(splits[key]) for key in _SPLITS)
    return Context(train, val, test, record)


def _labels_of(values: np.ndarray, table: Table) -> np.ndarray:
    if values.ndim != 2 or values.shape[1] != 1:
        raise DataError(
            f"{table.path}: labels need one column, got {values.shape[1]}; choose it with --context-columns"
        )
    values = values[:, 0]
    if not np.isfinite(values).all() or (values != np.round(values)).any():
        row = int(np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))[0])
        raise DataError(
            f"{table.path}: {table.row_name(row)} holds {values[row]:g}, not a whole-number class label"
        )
    return values.astype(np.int64)


def context_from_labels(splits: dict, table: Table) -> Context:
    """One-hot context of integer class labels; the classes are those of the training split."""
    labels = {key: _labels_of(np.asarray(splits[key]), table) for key in _SPLITS}
    classes = np.unique(labels["train"])
    if classes.size < 2:
        raise DataError(
            f"{table.path}: every training label is {classes[0]}: a conditional model needs two classes"
        )
    for key in ("val", "test"):
        unknown = np.setdiff1d(labels[key], classes)
        if unknown.size:
            raise DataError(
                f"{table.path}: the {key} split has label {unknown[0]}, which no training row has; "
                "every class needs training rows"
            )
    record = {"kind": "labels", "classes": classes.tolist()}
    train, val, test = (_one_hot(labels[key], classes) for key in _SPLITS)
    return Context(train, val, test, record)


def _one_hot(labels: np.ndarray, classes: np.ndarray) -> np.ndarray:
    index = np.searchsorted(classes, labels)
    out = np.zeros((len(labels), len(classes)), np.float32)
    out[np.arange(len(labels)), index] = 1.0
    return out


def encode_context(record: dict, raw: np.ndarray, where: str = "context") -> np.ndarray:
    """Raw context rows (data units, or class labels) as the model's float32 context.

    Example:
        >>> encode_context({"kind": "labels", "classes": [1, 5]}, np.array([[5.0], [1.0]])).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.ndim == 1:
        raw = raw.reshape(-1, 1)
    if record["kind"] == "labels":
        classes = np.asarray(record["classes"])
        if raw.shape[1] != 1:
            raise DataError(f"{where}: give one class label per row, not {raw.shape[1]} values")
        unknown = ~np.isin(raw[:, 0], classes)
        if unknown.any():
            row = int(np.flatnonzero(unknown)[0])
            raise DataError(
                f"{where}: row {row} has label {raw[row, 0]:g}; the run knows the classes {record['classes']}"
            )
        return _one_hot(raw[:, 0].astype(np.int64), classes)
    scaling = Standardization.from_record(record["standardization"])
    if raw.shape[1] != len(scaling.mean):
        raise DataError(
            f"{where}: rows of {raw.shape[1]} values, but the run's context has {len(scaling.mean)}"
        )
    bad = ~np.isfinite(raw).all(axis=1)
    if bad.any():
        raise DataError(
            f"{where}: row {int(np.flatnonzero(bad)[0])} holds NaN or Inf; give finite context values"
        )
    return scaling.apply(raw)


def parse_vector(text: str) -> np.ndarray | None:
    """A literal context such as ``0.5,1.0`` as one row, or None when ``text`` is not one.

    Example:
        >>> parse_vector("0.5, -1"), parse_vector("contexts.npy")
        (array([[ 0.5, -1. ]]), None)
    """
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        return None
    return np.asarray(values, np.float64).reshape(1, -1)
