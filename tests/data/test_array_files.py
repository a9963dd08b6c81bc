"""Readers of one's own data files: every format, header detection, column choice, and bad files."""

import numpy as np
import pytest
import torch

from maflow.data.array_files import parse_columns, read_table
from maflow.errors import DataError


def test_npy_is_memory_mapped_and_a_vector_is_one_column(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6.0))
    table = read_table(tmp_path / "x.npy")
    assert isinstance(table.arrays["all"], np.memmap) or isinstance(table.arrays["all"].base, np.memmap)
    assert table.arrays["all"].shape == (6, 1) and not table.has_splits


def test_npz_with_splits_and_with_one_array(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "s.npz", train=rng.normal(size=(5, 2)), val=rng.normal(size=(3, 2)), test=np.ones((2, 2))
    )
    table = read_table(tmp_path / "s.npz")
    assert table.has_splits and {k: len(v) for k, v in table.arrays.items()} == {
        "train": 5,
        "val": 3,
        "test": 2,
    }
    np.savez(tmp_path / "one.npz", data=np.ones((4, 3)))
    assert read_table(tmp_path / "one.npz").arrays["all"].shape == (4, 3)


def test_csv_header_is_detected_and_columns_chosen_by_name_or_number(tmp_path):
    (tmp_path / "h.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    (tmp_path / "n.tsv").write_text("1\t2\t3\n4\t5\t6\n")
    with_header = read_table(tmp_path / "h.csv", parse_columns("c,a"))
    assert with_header.columns == ["c", "a"] and with_header.arrays["all"].tolist() == [[3, 1], [6, 4]]
    numbered = read_table(tmp_path / "n.tsv", ["2"])
    assert numbered.columns is None and numbered.arrays["all"].tolist() == [[3], [6]]


def test_pt_tensor_is_loaded_without_pickle(tmp_path):
    torch.save(torch.ones(3, 2, dtype=torch.float64), tmp_path / "x.pt")
    assert read_table(tmp_path / "x.pt").arrays["all"].tolist() == [[1, 1]] * 3


class _Payload:
    pass


BAD_FILES = [
    # (file name, writer, words of the one-line error)
    ("missing.npy", None, "not found"),
    ("x.xlsx", lambda p: p.write_bytes(b"PK"), "unknown file type '.xlsx'"),
    ("text.npy", lambda p: np.save(p, np.array([["a", "b"]])), "holds text, not real numbers"),
    ("complex.npy", lambda p: np.save(p, np.ones((2, 2), np.complex64)), "complex numbers"),
    ("cube.npy", lambda p: np.save(p, np.ones((2, 2, 2))), "has shape (2, 2, 2)"),
    ("objects.npy", lambda p: np.save(p, np.array([{}, 1], dtype=object)), "pickled objects"),
    ("short.npy", lambda p: p.write_bytes(b"\x93NUMPY\x01\x00"), "corrupt"),
    ("trainonly.npz", lambda p: np.savez(p, train=np.ones((3, 2))), "needs all of train, val and test"),
    (
        "two.npz",
        lambda p: np.savez(p, a=np.ones(2), b=np.ones(2)),
        "save either one array, or train, val and test",
    ),
    ("ragged.csv", lambda p: p.write_text("a,b\n1,2\n3\n"), "line 3 has 1 fields"),
    ("words.csv", lambda p: p.write_text("a,name\n1,x\n2,abc\n"), "column 'name' (1) holds 'x' at line 2"),
    ("empty.csv", lambda p: p.write_text(""), "is empty"),
    ("header.csv", lambda p: p.write_text("a,b\n"), "has a header but no data rows"),
    ("pickle.pt", lambda p: torch.save({"x": _Payload()}, p), "cannot load"),
    ("list.pt", lambda p: torch.save([1, 2], p), "holds a list, not a tensor"),
]


@pytest.mark.parametrize("name, write, words", BAD_FILES, ids=[case[0] for case in BAD_FILES])
def test_a_bad_file_is_one_data_error_naming_it(tmp_path, name, write, words):
    path = tmp_path / name
    if write is not None:
        write(path)
    with pytest.raises(DataError) as error:
        read_table(path)
    message = str(error.value)
    assert words in message and str(path) in message and "\n" not in message, message


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.startswith("pyarrow"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="pip install pyarrow"):
        read_table(tmp_path / "x.parquet")


def test_unknown_columns_are_named(tmp_path):
    (tmp_path / "h.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="has no column 'zzz'; --columns takes a, b"):
        read_table(tmp_path / "h.csv", ["zzz"])
    with pytest.raises(DataError, match="names a column twice"):
        read_table(tmp_path / "h.csv", ["a", "0"])


def test_parquet_numeric_columns_are_read_and_text_columns_named(tmp_path, monkeypatch):
    import sys
    import types

    class Column:
        def __init__(self, values):
            self.values = np.asarray(values)

        def to_numpy(self, zero_copy_only=False):
            return self.values

    class FakeTable:
        column_names = ["a", "b", "name"]
        columns = [Column([1.0, 2.0]), Column([3, 4]), Column(["x", "y"])]

        def column(self, index):
            return self.columns[index]

    parquet = types.ModuleType("pyarrow.parquet")
    parquet.read_table = lambda path: FakeTable()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyarrow", types.ModuleType("pyarrow"))
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", parquet)
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(DataError, match="column 'name' \\(2\\) holds <U1 values, not numbers"):
        read_table(tmp_path / "x.parquet")
    table = read_table(tmp_path / "x.parquet", ["b"])  # the text column left out is never converted
    assert table.columns == ["b"] and table.arrays["all"].tolist() == [[3.0], [4.0]]
