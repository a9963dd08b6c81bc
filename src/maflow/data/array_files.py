"""Readers for a user's own data files: ``.npy``, ``.npz``, ``.csv``/``.tsv``, ``.pt`` and ``.parquet``.

Each reader returns a :class:`Table`: the file's rows as one array (``"all"``) or as the splits
the file holds (``"train"``, ``"val"``, ``"test"``), with column names when the file has them.
Nothing is unpickled (``allow_pickle=False``, ``torch.load(weights_only=True)``); a ``.npy`` is
memory-mapped, so a file larger than memory is read only where it is used. Anything that is not
a real number is one :class:`~maflow.errors.DataError` naming the column (and the line).
"""

from __future__ import annotations

import csv
import itertools
import os
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from maflow.data.files import real_numeric
from maflow.errors import DataError

__all__ = ["Table", "TextRows", "SUFFIXES", "read_table", "select_columns", "parse_columns"]

SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".txt", ".pt", ".parquet")
_SPLIT_KEYS = ("train", "val", "test")


@dataclass
class Table:
    """The numeric content of one data file.

    Arguments:
        path: the file.
        arrays: ``{"all": rows}`` or ``{"train": ..., "val": ..., "test": ...}``; each (N, D),
            real numbers (a ``.npy`` stays memory-mapped).
        columns: the column names (a header, parquet names), or None.
        text_lines: for text files, the line number of each data row's first line offset
            (line of row i is ``i + text_lines``), or None.

    Example:
        >>> table = Table(Path("x.npy"), {"all": np.zeros((3, 2))}, None)
        >>> table.features, table.has_splits, table.column_name(1)
        (2, False, 'column 1')
    """

    path: Path
    arrays: dict[str, np.ndarray]
    columns: list[str] | None
    text_lines: int | None = None

    @property
    def features(self) -> int:
        return next(iter(self.arrays.values())).shape[1]

    @property
    def has_splits(self) -> bool:
        return "all" not in self.arrays

    def column_name(self, index: int) -> str:
        """How a message names column ``index``: its header name, else its 0-based number."""
        if self.columns is not None:
            return f"column {self.columns[index]!r} ({index})"
        return f"column {index}"

    def row_name(self, index: int) -> str:
        """How a message names data row ``index`` (0-based), with its line in a text file."""
        line = f" (line {index + self.text_lines})" if self.text_lines is not None else ""
        return f"row {index}{line}"


def parse_columns(text: str | None) -> list[str] | None:
    """``--columns a,b,c`` (names or 0-based numbers) as a list, or None.

    Example:
        >>> parse_columns("x, y,3"), parse_columns(None)
        (['x', 'y', '3'], None)
    """
    if text is None:
        return None
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise DataError(f"--columns {text!r} has an empty name: write names or numbers separated by commas")
    return names


def read_table(path: str | os.PathLike, columns: list[str] | None = None, stream: bool = False) -> Table:
    """Reads ``path`` by its suffix and keeps ``columns`` (names or 0-based numbers; all by default).

    A ``.npy`` is memory-mapped; with ``stream``, a text file is read batch by batch as its rows
    are sliced (:class:`TextRows`) instead of at once.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = Path(d, "x.csv").write_text("a,b,c\\n1,2,3\\n4,5,6\\n")
        ...     table = read_table(Path(d, "x.csv"), columns=["c", "a"])
        >>> table.columns, table.arrays["all"].tolist()
        (['c', 'a'], [[3.0, 1.0], [6.0, 4.0]])
    """
    path = Path(path).expanduser()
    if not path.is_file():
        what = "a folder" if path.is_dir() else "not found"
        raise DataError(f"{path}: {what}; give --data a file ({', '.join(SUFFIXES)})")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unknown file type {suffix or '(none)'!r}; use one of {', '.join(SUFFIXES)}")
    # Text and parquet pick their columns first: a text column left out is never read as numbers.
    if suffix in (".csv", ".tsv", ".txt"):
        return _stream_text(path, columns) if stream else _read_text(path, columns)
    if suffix == ".parquet":
        return _read_parquet(path, columns)
    arrays = {".npy": _read_npy, ".npz": _read_npz, ".pt": _read_pt}
    return select_columns(arrays[suffix](path), columns)


def _column_indices(path, columns: list[str], names: list[str] | None, width: int) -> list[int]:
    indices = []
    for name in columns:
        if names is not None and name in names:
            indices.append(names.index(name))
        elif name.isdigit() and int(name) < width:
            indices.append(int(name))
        else:
            known = ", ".join(names) if names else f"numbers 0 to {width - 1}"
            raise DataError(f"{path} has no column {name!r}; --columns takes {known}")
    if len(set(indices)) != len(indices):
        raise DataError(f"--columns names a column twice ({', '.join(columns)}); name each once")
    return indices


def select_columns(table: Table, columns: list[str] | None) -> Table:
    """The table restricted to ``columns`` (names from its header, or 0-based numbers), in that order."""
    if columns is None:
        return table
    indices = _column_indices(table.path, columns, table.columns, table.features)
    arrays = {key: array[:, indices] for key, array in table.arrays.items()}
    names = [table.columns[i] for i in indices] if table.columns is not None else None
    return Table(table.path, arrays, names, table.text_lines)


def _as_rows(path: Path, array: np.ndarray, name: str = "") -> np.ndarray:
    array = real_numeric(path, array, name)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        label = f" ({name})" if name else ""
        raise DataError(
            f"{path}{label} has shape {array.shape}: give one row per example, shape (N, D) "
            "(flatten images with x.reshape(len(x), -1))"
        )
    return array


def _read_npy(path: Path) -> Table:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as error:
        raise DataError(
            f"{path} cannot be read as a plain .npy array ({str(error)[:200]}); it is corrupt, not a "
            ".npy file, or holds pickled objects, which maflow does not load"
        ) from None
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}; the file is truncated or corrupt") from None
    return Table(path, {"all": _as_rows(path, array)}, None)


def _from_arrays(path: Path, arrays: dict[str, np.ndarray], what: str) -> Table:
    names = sorted(arrays)
    if set(_SPLIT_KEYS) <= set(arrays):
        rows = {key: _as_rows(path, arrays[key], key) for key in _SPLIT_KEYS}
        widths = {key: array.shape[1] for key, array in rows.items()}
        if len(set(widths.values())) != 1:
            raise DataError(f"{path}: the splits have different numbers of columns {widths}; they must agree")
        return Table(path, rows, None)
    if "train" in arrays:
        raise DataError(
            f"{path} holds {names}: a file with its own splits needs all of train, val and test "
            "(or save one array and let --val-fraction and --test-fraction split it)"
        )
    if len(arrays) != 1:
        raise DataError(f"{path} holds {what} {names}: save either one array, or train, val and test")
    return Table(path, {"all": _as_rows(path, arrays[names[0]], names[0])}, None)


def _read_npz(path: Path) -> Table:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"cannot read {path} as a plain .npz archive ({str(error)[:200]}); it is corrupt or holds "
            "pickled objects, which maflow does not load"
        ) from None
    if not arrays:
        raise DataError(
            f"{path} is an empty .npz archive: save the data with np.savez(path, x) or train/val/test"
        )
    return _from_arrays(path, arrays, "arrays")


def _read_pt(path: Path) -> Table:
    import torch

    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a pickle holding more than tensors and plain values, or a corrupt file
        raise DataError(
            f"cannot load {path} safely ({type(error).__name__}: {str(error).splitlines()[0][:200]}); "
            "save a tensor with torch.save(x, path) (or a dict of train, val and test tensors)"
        ) from None
    if torch.is_tensor(content):
        content = {"tensor": content}
    if not isinstance(content, dict) or not all(torch.is_tensor(v) for v in content.values()):
        raise DataError(
            f"{path} holds a {type(content).__name__}, not a tensor: save one with torch.save(x, path) "
            "(or a dict of train, val and test tensors)"
        )
    arrays = {str(key): value.detach().cpu().numpy() for key, value in content.items()}
    return _from_arrays(path, arrays, "tensors")


def _read_parquet(path: Path, chosen: list[str] | None = None) -> Table:
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError(
            f"{path}: reading .parquet needs pyarrow: `pip install pyarrow`, or save the data as .npy or .csv"
        ) from None
    try:
        table = parquet.read_table(path)
    except Exception as error:  # pyarrow's own errors: a corrupt or foreign file
        raise DataError(f"cannot read {path} as parquet ({str(error)[:200]}); it is corrupt") from None
    names = [str(name) for name in table.column_names]
    indices = list(range(len(names))) if chosen is None else _column_indices(path, chosen, names, len(names))
    columns = []
    for index in indices:
        name = names[index]
        column = table.column(index).to_numpy(zero_copy_only=False)
        if column.dtype.kind not in "biuf":
            raise DataError(
                f"{path}: column {name!r} ({index}) holds {column.dtype} values, not numbers; "
                "choose the numeric columns with --columns"
            )
        columns.append(column.astype(np.float64))
    if not columns:
        raise DataError(f"{path} has no columns")
    return Table(path, {"all": np.stack(columns, axis=1)}, [names[i] for i in indices])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _text_records(path: Path) -> Generator[tuple[int, list[str]], None, None]:
    """(line number, fields) of every non-blank line, read as the file is iterated."""
    suffix = path.suffix.lower()
    try:
        with open(path, encoding="utf-8-sig", newline="") as file:
            first = file.readline()
            file.seek(0)
            if suffix == ".tsv":
                rows: Iterator[list[str]] = csv.reader(file, delimiter="\t")
            elif suffix == ".txt" and "," not in first:
                rows = (line.split() for line in file)
            else:
                rows = csv.reader(file)
            for number, row in enumerate(rows, start=1):
                if any(cell.strip() for cell in row):
                    yield number, row
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"cannot read {path} as text ({error}); save the data as UTF-8 CSV") from None


@dataclass
class _TextLayout:
    header: list[str] | None
    width: int
    indices: list[int]


def _text_layout(path: Path, columns: list[str] | None) -> _TextLayout:
    """The header (a first row that is not all numbers), the row width and the chosen columns."""
    records = _text_records(path)
    first = next(records, None)
    if first is None:
        raise DataError(f"{path} is empty: it needs a row per example")
    header = None
    if not all(_is_number(cell) for cell in first[1]):
        header = [cell.strip() for cell in first[1]]
        if next(records, None) is None:
            raise DataError(f"{path} has a header but no data rows")
    records.close()
    width = len(first[1])
    indices = list(range(width)) if columns is None else _column_indices(path, columns, header, width)
    return _TextLayout(header, width, indices)


def _data_records(path: Path, layout: _TextLayout) -> Iterator[tuple[int, list[str]]]:
    records = _text_records(path)
    if layout.header is not None:
        next(records)
    return records


def _parse(path: Path, layout: _TextLayout, records: list[tuple[int, list[str]]]) -> np.ndarray:
    """The chosen columns of ``records`` as float64 (an empty cell is NaN); one error names a bad cell."""
    for number, row in records:
        if len(row) != layout.width:
            raise DataError(
                f"{path}: line {number} has {len(row)} fields, the {'header' if layout.header else 'first row'} "
                f"{layout.width}; every row needs one value per column"
            )
    values = np.empty((len(records), len(layout.indices)), np.float64)
    for position, column in enumerate(layout.indices):
        cells = [row[column].strip() for _, row in records]
        try:
            values[:, position] = [float(cell) if cell else np.nan for cell in cells]
        except ValueError:
            row_index = next(i for i, cell in enumerate(cells) if cell and not _is_number(cell))
            header = layout.header
            name = f"column {header[column]!r} ({column})" if header else f"column {column}"
            raise DataError(
                f"{path}: {name} holds {cells[row_index][:40]!r} at line {records[row_index][0]}, not a "
                "number; choose the numeric columns with --columns"
            ) from None
    return values


def _read_text(path: Path, columns: list[str] | None = None) -> Table:
    """CSV (comma), TSV (tab) or whitespace text; a first row that is not all numbers is the header.

    Only ``columns`` (all by default) are parsed as numbers.
    """
    layout = _text_layout(path, columns)
    records = list(_data_records(path, layout))
    values = _parse(path, layout, records)
    first_line = records[0][0]
    contiguous = records[-1][0] - first_line == len(records) - 1
    kept = None if layout.header is None else [layout.header[i] for i in layout.indices]
    return Table(path, {"all": values}, kept, first_line if contiguous else None)


class TextRows:
    """The rows of a text file, read batch by batch as they are sliced in order (``maflow score``).

    Only ``len``, ``shape`` and slices ``rows[start:stop]`` are supported; slices in increasing
    order read the file once, any other slice starts reading again from the top. Memory holds one
    batch at a time.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = Path(d, "x.csv").write_text("a,b\\n1,2\\n3,4\\n5,6\\n")
        ...     rows = read_table(Path(d, "x.csv"), ["b"], stream=True).arrays["all"]
        ...     len(rows), rows[0:2].tolist(), rows[2:3].tolist()
        (3, [[2.0], [4.0]], [[6.0]])
    """

    ndim = 2

    def __init__(self, path: Path, layout: _TextLayout):
        self.path, self.layout = path, layout
        self.shape = (sum(1 for _ in _data_records(path, layout)), len(layout.indices))
        self._records: Iterator[tuple[int, list[str]]] | None = None
        self._position = 0

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, item: slice) -> np.ndarray:
        if not isinstance(item, slice) or item.step not in (None, 1):
            raise TypeError("TextRows supports contiguous slices only")
        start, stop, _ = item.indices(len(self))
        if self._records is None or start != self._position:
            self._records = _data_records(self.path, self.layout)
            for _ in range(start):
                next(self._records)
        chunk = list(itertools.islice(self._records, max(stop - start, 0)))
        self._position = start + len(chunk)
        return _parse(self.path, self.layout, chunk)


def _stream_text(path: Path, columns: list[str] | None) -> Table:
    layout = _text_layout(path, columns)
    kept = None if layout.header is None else [layout.header[i] for i in layout.indices]
    rows = cast(np.ndarray, TextRows(path, layout))  # sliced like an array, read lazily
    return Table(path, {"all": rows}, kept)
