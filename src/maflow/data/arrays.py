"""A data set of one's own arrays: splits, checks, dequantisation and standardisation.

:func:`from_numpy` turns arrays into a :class:`~maflow.data.dataset.Dataset` that the trainer
takes like a registered data set; :func:`load_data_file` does the same for a file
(``maflow train --data PATH``). The splits are standardised with the training split's mean and
standard deviation (kept in ``dataset.standardization``, whose ``log_abs_det`` turns model-space
log-densities into log-densities in the data's own units). ``dataset.origin`` records where
the rows came from and how they were split, with a SHA-256 of every value, so that a trained
run can rebuild exactly the same splits (:func:`maflow.data.record.load_recorded`) and refuse
changed data.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from maflow.data.array_files import Table, read_table
from maflow.data.context import Context, context_from_labels, continuous_context
from maflow.data.dataset import Dataset
from maflow.data.standardize import Standardization
from maflow.errors import DataError

__all__ = [
    "DataOptions",
    "from_numpy",
    "load_data_file",
    "table_fingerprint",
    "check_rows",
    "dequantize_rows",
]

_CHUNK_ROWS = 65536
_SPLITS = ("train", "val", "test")


@dataclass
class DataOptions:
    """How a file or arrays become train, validation and test splits.

    Arguments:
        columns: the data columns to keep (names or 0-based numbers; all by default).
        context_columns: the same for the ``--context`` file.
        val_fraction, test_fraction: shares of the rows held out, after a shuffle seeded by
            ``split_seed`` (not for a file that holds its own splits; default 0.1 each).
        split_seed: seed of that shuffle and of the dequantisation noise.
        dequantize: add U(0, 1) noise to integer-valued data (a density on integers is
            unbounded; the result is a density of x + u).
        standardize: standardise every column with the training mean and standard deviation.
        min_train_rows: refuse fewer training rows than this (the batch size).
    """

    columns: list[str] | None = None
    context_columns: list[str] | None = None
    val_fraction: float | None = None
    test_fraction: float | None = None
    split_seed: int = 0
    dequantize: bool = False
    standardize: bool = True
    min_train_rows: int = 2

    def check(self) -> DataOptions:
        """Refuses settings that cannot be used, one line each."""
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, int) or self.split_seed < 0:
            raise DataError(f"--split-seed must be a whole number >= 0, got {self.split_seed!r}")
        if isinstance(self.min_train_rows, bool) or not isinstance(self.min_train_rows, int):
            raise DataError(
                f"the minimum number of training rows must be a whole number, got {self.min_train_rows!r}"
            )
        return self

    def fractions(self, has_splits: bool, path) -> tuple[float, float]:
        if has_splits:
            if self.val_fraction is not None or self.test_fraction is not None:
                raise DataError(
                    f"{path} holds its own train, val and test splits: drop --val-fraction and --test-fraction"
                )
            return 0.0, 0.0
        val = 0.1 if self.val_fraction is None else self.val_fraction
        test = 0.1 if self.test_fraction is None else self.test_fraction
        if not (0 < val < 1 and 0 < test < 1 and val + test < 1):
            raise DataError(
                f"--val-fraction {val} and --test-fraction {test} must each be in (0, 1), summing to less than 1"
            )
        return val, test


def table_fingerprint(table: Table) -> dict:
    """Shape and a SHA-256 of every value (as float64) of every array of ``table``, read in chunks."""
    digest = hashlib.sha256()
    shapes = {}
    for key in sorted(table.arrays):
        array = table.arrays[key]
        shapes[key] = list(array.shape)
        digest.update(key.encode())
        for start in range(0, len(array), _CHUNK_ROWS):
            digest.update(np.ascontiguousarray(array[start : start + _CHUNK_ROWS], dtype=np.float64).data)
    return {"shapes": shapes, "sha256_all": digest.hexdigest()}


def check_rows(table: Table, split: str | None = None) -> None:
    """Refuses NaN or Inf, naming the first bad row (and its split or line) and the count."""
    for key, array in table.arrays.items():
        bad_rows: list[int] = []
        count = 0
        for start in range(0, len(array), _CHUNK_ROWS):
            bad = ~np.isfinite(np.asarray(array[start : start + _CHUNK_ROWS], dtype=np.float64))
            rows = np.flatnonzero(bad.any(axis=1))
            count += rows.size
            if rows.size and not bad_rows:
                first = int(rows[0])
                bad_rows = [start + first, int(np.flatnonzero(bad[first])[0])]
        if count:
            row, column = bad_rows
            where = f"the {key} split's " if key != "all" else ""
            raise DataError(
                f"{table.path}: {where}{table.row_name(row)} holds NaN or Inf in {table.column_name(column)} "
                f"({count} such row(s)); remove or fill those rows first"
            )
        if len(array) == 0:
            where = f"the {key} split of " if key != "all" else ""
            raise DataError(f"{where}{table.path} has no rows; every split needs at least one")


def _check_constant(train: np.ndarray, table: Table, what: str = "--columns") -> None:
    spread = np.asarray(train.max(0), np.float64) - np.asarray(train.min(0), np.float64)
    constant = np.flatnonzero(spread == 0)
    if constant.size:
        column = int(constant[0])
        raise DataError(
            f"{table.path}: {table.column_name(column)} is constant ({float(train[0, column]):g} in every "
            f"training row): a density on it is degenerate; leave it out with {what}"
        )


def dequantize_rows(x: np.ndarray, rng: np.random.Generator, path="data") -> np.ndarray:
    """``x + U(0, 1)`` for integer-valued ``x`` (float64); non-integer values are refused.

    Example:
        >>> x = dequantize_rows(np.array([[0, 3]]), np.random.default_rng(0))
        >>> bool(((x >= [0, 3]) & (x < [1, 4])).all())
        True
    """
    x = np.asarray(x, dtype=np.float64)
    fractional = x != np.floor(x)
    if fractional.any():
        row, column = (int(i[0]) for i in np.nonzero(fractional))
        raise DataError(
            f"{path}: --dequantize is for integer data, but row {row}, column {column} holds {x[row, column]:g}; "
            "drop --dequantize"
        )
    return x + rng.random(x.shape)


def _split_table(table: Table, options: DataOptions) -> tuple[dict[str, np.ndarray], list | None]:
    """The three splits (in memory, float64) and, for a shuffled file, the row indices of each."""
    val_fraction, test_fraction = options.fractions(table.has_splits, table.path)
    if table.has_splits:
        return {key: np.asarray(table.arrays[key]) for key in _SPLITS}, None
    rows = table.arrays["all"]
    n = len(rows)
    num_val, num_test = int(round(val_fraction * n)), int(round(test_fraction * n))
    if num_val < 1 or num_test < 1 or n - num_val - num_test < 2:
        raise DataError(
            f"{table.path} has {n} row(s): too few to hold out {val_fraction:g} for validation and "
            f"{test_fraction:g} for test; give more rows or larger fractions"
        )
    order = np.random.default_rng(options.split_seed).permutation(n)
    parts = np.split(order, [n - num_val - num_test, n - num_test])
    return _take(rows, parts), parts


def _take(rows, parts: list) -> dict[str, np.ndarray]:
    # Sorted indices read a memory-mapped file in order; each split keeps the file's row order.
    # In the file's own dtype: a float32 file is never held as float64 whole.
    return {key: np.asarray(rows[np.sort(part)]) for key, part in zip(_SPLITS, parts)}


def _finish(
    name: str, splits: dict, context: Context | None, options: DataOptions, origin: dict, table: Table
):
    if len(splits["train"]) < options.min_train_rows:
        raise DataError(
            f"{table.path}: {len(splits['train'])} training rows, fewer than one batch of "
            f"{options.min_train_rows}: give more rows or a smaller --batch-size"
        )
    whole_numbers = bool(np.all(np.mod(splits["train"], 1) == 0))  # integers: --dequantize is due
    if options.dequantize:
        rng = np.random.default_rng([options.split_seed, 1])
        splits = {key: dequantize_rows(splits[key], rng, table.path) for key in _SPLITS}
    _check_constant(splits["train"], table)
    features = splits["train"].shape[1]
    standardization = (
        Standardization.fit(splits["train"]) if options.standardize else Standardization.identity(features)
    )
    record = {
        **origin,
        "name": name,
        "options": asdict(options),
        "standardization": standardization.to_record(),
        "whole_numbers": whole_numbers,
    }
    if context is not None:
        record["context"] = context.record
    train, val, test = (standardization.apply(splits[key]) for key in _SPLITS)
    dataset = Dataset(
        name=name,
        kind="arrays",
        features=features,
        train=train,
        val=val,
        test=test,
        standardization=standardization,
        context=context,
        origin=record,
    )
    return dataset.validate()


def _run_name(path: Path) -> str:
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in path.stem).strip("._") or "data"
    return stem


def load_data_file(
    path: str | os.PathLike,
    options: DataOptions | None = None,
    context: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    name: str | None = None,
) -> Dataset:
    """Reads, checks, splits and standardises a data file (``maflow train --data PATH``).

    Arguments:
        path: ``.npy`` (memory-mapped), ``.npz``, ``.csv``, ``.tsv``, ``.pt`` or ``.parquet``.
        options: a :class:`DataOptions` (default: every column, 10% validation, 10% test).
        context: a file of continuous context rows, one per data row (the same splits).
        labels: a file of integer class labels, one per data row (a one-hot context).
        name: the data set's name (default: the file's stem); the default run folder is ``out/<name>``.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     np.save(Path(d, "x.npy"), np.random.default_rng(0).normal(size=(100, 3)))
        ...     ds = load_data_file(Path(d, "x.npy"))
        >>> ds, ds.train.dtype.name
        (Dataset('x', kind='arrays', features=3, splits=80/10/10), 'float32')
    """
    options = (options or DataOptions()).check()
    if context is not None and labels is not None:
        raise DataError("give --context (continuous) or --labels (classes), not both")
    table = read_table(path, options.columns)
    check_rows(table)
    splits, parts = _split_table(table, options)
    origin = {
        "source": "file",
        "path": str(Path(path).expanduser().resolve()),
        "columns": table.columns,
        "fingerprint": table_fingerprint(table),
    }
    context_part = None
    if context is not None or labels is not None:
        given = context if context is not None else labels
        assert given is not None
        context_table = read_table(given, options.context_columns)
        if context is not None:
            check_rows(context_table)
        _same_layout(table, context_table)
        context_splits = _split_like(context_table, parts)
        if context is not None:
            context_part = continuous_context(context_splits, context_table, options.standardize)
        else:
            context_part = context_from_labels(context_splits, context_table)
        context_part.record["path"] = str(Path(context_table.path).resolve())
        context_part.record["columns"] = context_table.columns
        context_part.record["fingerprint"] = table_fingerprint(context_table)
    return _finish(name or _run_name(Path(path)), splits, context_part, options, origin, table)


def _same_layout(table: Table, other: Table) -> None:
    rows = {key: len(array) for key, array in table.arrays.items()}
    other_rows = {key: len(array) for key, array in other.arrays.items()}
    if rows != other_rows:
        raise DataError(
            f"{other.path} has {_describe(other_rows)} but {table.path} has {_describe(rows)}: "
            "give one context row per data row, with the same splits"
        )


def _describe(rows: dict) -> str:
    return " / ".join(f"{n} {key} rows" if key != "all" else f"{n} rows" for key, n in rows.items())


def _split_like(table: Table, parts: list | None) -> dict[str, np.ndarray]:
    if parts is None:
        return {key: np.asarray(table.arrays[key]) for key in _SPLITS}
    return _take(table.arrays["all"], parts)


def from_numpy(
    train,
    val=None,
    test=None,
    *,
    context=None,
    labels=None,
    name: str = "arrays",
    options: DataOptions | None = None,
) -> Dataset:
    """A data set of one's own arrays, for :func:`maflow.train.flow.train_flow`.

    Arguments:
        train: an (N, D) array; alone, it is split with ``options.val_fraction`` and
            ``test_fraction`` (a seeded shuffle); with ``val`` and ``test``, it is the training split.
        val, test: the other splits (both or neither).
        context: continuous context, one row per data row: an array beside ``train`` alone, or
            a tuple of three beside the three splits.
        labels: integer class labels instead (one-hot context), laid out as ``context``.
        name: the data set's name (the default run folder is ``out/<name>``).
        options: a :class:`DataOptions`.

    Example:
        >>> x = np.random.default_rng(0).normal(size=(200, 2)) * [1e-3, 1e3]
        >>> ds = from_numpy(x, name="mine")
        >>> ds, ds.train.std(0).round(3).tolist()
        (Dataset('mine', kind='arrays', features=2, splits=160/20/20), [1.0, 1.0])
    """
    options = (options or DataOptions()).check()
    if (val is None) != (test is None):
        raise DataError("from_numpy: give both val and test, or neither (then train is split)")
    if context is not None and labels is not None:
        raise DataError("from_numpy: give context (continuous) or labels (classes), not both")
    arrays = {"all": train} if val is None else {"train": train, "val": val, "test": test}
    table = _table(f"<{name}>", arrays)
    check_rows(table)
    splits, parts = _split_table(table, options)
    origin = {"source": "arrays", "columns": None, "fingerprint": table_fingerprint(table)}
    context_part = None
    given = context if context is not None else labels
    if given is not None:
        layout = {"all": given} if val is None else dict(zip(_SPLITS, given))
        context_table = _table(f"<{name} context>", layout)
        if context is not None:
            check_rows(context_table)
        _same_layout(table, context_table)
        context_splits = _split_like(context_table, parts)
        if context is not None:
            context_part = continuous_context(context_splits, context_table, options.standardize)
        else:
            context_part = context_from_labels(context_splits, context_table)
        context_part.record["fingerprint"] = table_fingerprint(context_table)
    return _finish(name, splits, context_part, options, origin, table)


def _table(label: str, arrays: dict) -> Table:
    from maflow.data.array_files import _as_rows

    path = Path(label)
    return Table(path, {key: _as_rows(path, np.asarray(value), key) for key, value in arrays.items()}, None)
