"""The MAF paper's tabular data sets (POWER, GAS, HEPMASS, MINIBOONE, BSDS300), preprocessed exactly
as the reference loaders of gpapamak/maf (``datasets/*.py``) do."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from maflow.data.files import read_npy
from maflow.data.preprocess import tail_split
from maflow.data.source import Source
from maflow.errors import DataError

__all__ = [
    "PRESPLIT_FILES",
    "read_csv",
    "prepare_presplit",
    "prepare_power",
    "prepare_gas",
    "drop_correlated_columns",
    "prepare_hepmass",
    "drop_repeated_minimum_columns",
    "prepare_miniboone",
    "prepare_bsds300",
]

PRESPLIT_FILES = ("train.npy", "val.npy", "test.npy")


def _float32_splits(spec_name: str, features: int, splits, where) -> dict:
    out = {}
    for split, x in zip(("train", "val", "test"), splits):
        if x.ndim != 2 or x.shape[1] != features:
            raise DataError(
                f"{spec_name}: {where} gives a {split} split of shape {x.shape}, expected (N, {features}); "
                "the file is corrupt or belongs to another data set"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            out[split] = x.astype(np.float32)
        overflow = np.isfinite(x) & ~np.isfinite(out[split])
        if overflow.any():
            row, column = np.argwhere(overflow)[0]
            raise DataError(
                f"{spec_name}: {where} holds {x[row, column]:g} in the {split} split (row {row}, column {column}), "
                "beyond float32's range (3.4e38); the file is corrupt or not preprocessed (standardise it first)"
            )
    return out


def prepare_presplit(source: Source) -> dict:
    """The common pre-split layout (``train.npy``, ``val.npy``, ``test.npy``), already preprocessed."""
    arrays = [read_npy(source.paths[name]) for name in PRESPLIT_FILES]
    return _float32_splits(
        source.spec.name, source.spec.features, arrays, Path(source.folder or ".") / "{train,val,test}.npy"
    )


def _standardise(splits, reference):
    mean, std = reference.mean(axis=0), reference.std(axis=0)  # population std (ddof=0), as numpy
    if np.any(std == 0):
        raise DataError(f"columns {np.flatnonzero(std == 0).tolist()} are constant; the file is corrupt")
    return [(x - mean) / std for x in splits]


def prepare_power(source: Source, seed: int = 42) -> dict:
    """POWER (``power/data.npy``, 8 columns): one RandomState(seed) shuffles the rows in place, column 3
    and then column 1 are deleted, noise is drawn voltage (0.01 U), active power (0.001 U),
    sub-metering (U, three columns) and stacked as [active, voltage, sm1..3, time=0], the tail rule
    splits, and train+val statistics standardise all three splits."""
    path = source.paths["data.npy"]
    data = np.array(read_npy(path), dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != 8:
        raise DataError(f"{path} has shape {data.shape}; POWER's data.npy has 8 columns")
    rng = source.rng(seed)
    rng.shuffle(data)
    data = np.delete(np.delete(data, 3, axis=1), 1, axis=1)
    n = data.shape[0]
    voltage_noise = 0.01 * rng.rand(n, 1)  # the draw order differs from the column order on purpose
    active_noise = 0.001 * rng.rand(n, 1)
    submetering_noise = rng.rand(n, 3)
    data = data + np.hstack((active_noise, voltage_noise, submetering_noise, np.zeros((n, 1))))
    train, val, test = tail_split(data)
    splits = _standardise((train, val, test), np.vstack((train, val)))
    return _float32_splits("power", 6, splits, path)


def drop_correlated_columns(data: np.ndarray, threshold: float = 0.98) -> np.ndarray:
    """Indices of the columns kept by GAS's rule: while some column has more than one column
    (itself included) with Pearson correlation > threshold, drop the first such column."""
    keep = list(range(data.shape[1]))
    while True:
        counts = (np.corrcoef(data[:, keep], rowvar=False) > threshold).sum(axis=1)
        if not np.any(counts > 1):
            return np.array(keep)
        del keep[int(np.flatnonzero(counts > 1)[0])]


def _gas_from_pickle(source: Source, path: Path) -> np.ndarray:
    try:
        import pandas as pd
    except ImportError:
        raise DataError(
            "reading the GAS pickle needs pandas: pip install pandas (or use ethylene_CO.txt)"
        ) from None
    try:
        frame = pd.read_pickle(path)  # the user passed allow_pickle=True: they trust this file
        frame = frame.drop(columns=["Meth", "Eth", "Time"])
    except Exception as error:  # noqa: BLE001 (old pandas pickles fail in many ways)
        raise DataError(
            f"cannot read {path} with pandas {pd.__version__} ({type(error).__name__}: {str(error)[:200]}); the "
            "pickle was written by pandas < 1.0. Use the UCI ethylene_CO.txt or train.npy/val.npy/test.npy instead"
        ) from None
    return frame.to_numpy(dtype=np.float64)


def _gas_from_text(path: Path, fraction: float, seed: int) -> np.ndarray:
    data = read_csv(path, delimiter=None)
    if data.ndim != 2 or data.shape[1] != 19:
        raise DataError(f"{path} has shape {data.shape}; the UCI ethylene_CO.txt has 19 columns")
    if fraction < 1.0:  # the MAF pickle is a random quarter of the UCI rows, in random order
        rng = np.random.RandomState(seed)
        data = data[rng.choice(data.shape[0], int(round(fraction * data.shape[0])), replace=False)]
    return data[:, 3:]  # drop time, CO (called "Meth" in the pickle) and ethylene


def prepare_gas(source: Source, fraction: float = 0.25, seed: int = 42) -> dict:
    """GAS: drop Time, Meth, Eth; drop correlated columns (``drop_correlated_columns``); standardise
    with the mean and std (ddof=1) of the whole data set, test included; tail split, no shuffle."""
    if source.file_layout.name == "pickle":
        path = source.paths["ethylene_CO.pickle"]
        data = _gas_from_pickle(source, path)
    else:
        path = source.paths["ethylene_CO.txt"]
        data = _gas_from_text(path, fraction, seed)
    data = data[:, drop_correlated_columns(data)]
    data = (data - data.mean(axis=0)) / data.std(axis=0, ddof=1)
    return _float32_splits("gas", 8, tail_split(data), path)


def read_csv(path: Path, delimiter: str | None = ",") -> np.ndarray:
    """A numeric CSV (or whitespace-separated, ``delimiter=None``) file; a first line with letters is
    taken as the header."""
    try:
        with open(path, encoding="ascii", errors="replace") as file:
            first = file.readline()
            skip = 1 if any(c.isalpha() for c in first) else 0
        return np.loadtxt(path, delimiter=delimiter, skiprows=skip, dtype=np.float64, ndmin=2, comments=None)
    except ValueError as error:
        raise DataError(f"{path} is not a numeric table ({str(error)[:200]}); the file is corrupt") from None


def drop_repeated_minimum_columns(data: np.ndarray, max_count: int = 5) -> np.ndarray:
    """Indices of the columns kept by the HEPMASS / MINIBOONE rule: drop a column when its smallest
    value occurs more than ``max_count`` times (the reference counts the minimum, not the mode).
    A column of NaN (constant before standardising) counts as one repeated value."""
    keep = []
    for column in range(data.shape[1]):
        _, counts = np.unique(data[:, column], return_counts=True)
        if counts[0] <= max_count:
            keep.append(column)
    return np.array(keep, dtype=np.int64)


def prepare_hepmass(source: Source) -> dict:
    """HEPMASS: keep rows whose label (first column) is 1 and drop the label; drop the test file's
    last column; standardise both with the training mean and std (ddof=1); drop the columns that
    ``drop_repeated_minimum_columns`` rejects on the training data; validation is the last 10% of
    the training rows, test is the test file."""
    train_path, test_path = source.paths["1000_train.csv"], source.paths["1000_test.csv"]
    train, test = read_csv(train_path), read_csv(test_path)
    train = train[train[:, 0] == 1][:, 1:]
    test = test[test[:, 0] == 1][:, 1:-1]  # the reference's comment: the test file is malformed
    if test.shape[1] not in (train.shape[1], train.shape[1] - 1):
        raise DataError(
            f"{test_path} has {test.shape[1] + 2} columns but {train_path} {train.shape[1] + 1}; "
            "they are not the HEPMASS 1000_train.csv / 1000_test.csv pair"
        )
    mean, std = train.mean(axis=0), train.std(axis=0, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):  # a constant column becomes NaN, then is dropped
        train = (train - mean) / std
        test = (test - mean[: test.shape[1]]) / std[: test.shape[1]]
    keep = drop_repeated_minimum_columns(train)
    if test.shape[1] < train.shape[1]:
        # The reference aligns columns by name, so the dropped last column comes back empty and
        # must be one that the filter removes (the constant mass column); otherwise it would be NaN.
        if train.shape[1] - 1 in keep:
            raise DataError(
                f"{test_path}: its last column is dropped but the training file's matching column is kept; "
                "the files do not follow the HEPMASS layout"
            )
    train, test = train[:, keep], test[:, keep]
    num_val = int(0.1 * train.shape[0])
    splits = (train[: train.shape[0] - num_val], train[train.shape[0] - num_val :], test)
    return _float32_splits("hepmass", 21, splits, source.folder)


def prepare_miniboone(source: Source) -> dict:
    """MINIBOONE (``miniboone/data.npy``, already cleaned of outliers and repeated-value columns):
    tail split, no shuffle; train+val mean and population std standardise all three splits."""
    path = source.paths["data.npy"]
    data = np.asarray(read_npy(path), dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != 43:
        raise DataError(f"{path} has shape {data.shape}; MINIBOONE's data.npy has 43 columns")
    train, val, test = tail_split(data)
    splits = _standardise((train, val, test), np.vstack((train, val)))
    return _float32_splits("miniboone", 43, splits, path)


def prepare_bsds300(source: Source) -> dict:
    """BSDS300 (``BSDS300.hdf5``): the 8x8 patches minus their last pixel, used as stored."""
    try:
        import h5py
    except ImportError:
        raise DataError("reading BSDS300.hdf5 needs h5py: pip install 'maflow[hdf5]'") from None
    path = source.paths["BSDS300.hdf5"]
    try:
        with h5py.File(path, "r") as file:
            splits = [np.asarray(file[key]) for key in ("train", "validation", "test")]
    except KeyError as error:
        raise DataError(f"{path} lacks the dataset {error}; it needs train, validation and test") from None
    except OSError as error:
        raise DataError(f"cannot read {path} as HDF5 ({error}); the file is corrupt") from None
    return _float32_splits("bsds300", 63, splits, path)
