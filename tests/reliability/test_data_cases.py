"""Damaged, mistyped and hostile data files: ``maflow data prepare`` says what is wrong in one line, exit 2."""

import gzip
import struct

import numpy as np
import pytest

from .cases import assert_one_line_refusal, run


def _miniboone(folder, change=None, text=None, split="train"):
    """A synthetic pre-split MINIBOONE folder (43 columns), one split altered by ``change`` or replaced."""
    data = folder / "miniboone"
    data.mkdir(parents=True)
    rng = np.random.RandomState(0)
    for name, rows in (("train", 300), ("val", 60), ("test", 60)):
        np.save(data / f"{name}.npy", rng.randn(rows, 43).astype(np.float32))
    if text is not None:
        (data / f"{split}.npy").write_bytes(text)
    elif change is not None:
        np.save(data / f"{split}.npy", change(np.load(data / f"{split}.npy")), allow_pickle=True)
    return data / f"{split}.npy"


def _strings(x):
    x = x.astype(str)
    x[0, 0] = "abc"
    return x


def _nan(x):
    x[5, 3] = np.nan
    return x


def _huge(x):
    x = x.astype(np.float64)
    x[7, 1] = 1e300
    return x


# name: (change of train.npy, or bytes replacing it; words of the error line)
CASES = {
    "non-numeric strings": (_strings, ["holds text, not real numbers"]),
    "numeric strings": (lambda x: x.astype(str), ["holds text, not real numbers"]),
    "complex values": (lambda x: x + 1j, ["complex numbers"]),
    "structured dtype": (lambda x: np.zeros((10, 43), dtype=[("a", "f4")]), ["named fields"]),
    "object array": (lambda x: x.astype(object), ["train.npy"]),
    "NaN in a row": (_nan, ["train"]),
    "1e300 in float64 (beyond float32)": (_huge, ["1e+300 in the train split (row 7, column 1)", "float32"]),
    "wrong width": (lambda x: x[:, :10], ["train"]),
    "empty split": (lambda x: x[:0], ["train"]),
    "one distinct row": (lambda x: np.repeat(x[:1], 300, 0), ["train"]),
    "truncated .npy": (b"\x93NUMPY\x01\x00v\x00{'descr'", ["train.npy"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_array_file_is_one_line(tmp_path, capsys, monkeypatch, case):
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    change, words = CASES[case]
    if isinstance(change, bytes):
        _miniboone(tmp_path / "data", text=change)
    else:
        _miniboone(tmp_path / "data", change)
    code = run(["data", "prepare", "miniboone", "--data-dir", tmp_path / "data"])
    assert_one_line_refusal(code, capsys.readouterr().err, *words)


def test_a_sane_synthetic_copy_prepares(tmp_path, capsys, monkeypatch):
    # The control of the table above: the same files, unaltered, are accepted.
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    _miniboone(tmp_path / "data")
    assert run(["data", "prepare", "miniboone", "--data-dir", tmp_path / "data"]) == 0


def test_a_csv_named_train_npy_is_not_called_pickled(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    _miniboone(tmp_path / "data", text=b"a,b\n1,2\n")
    code = run(["data", "prepare", "miniboone", "--data-dir", tmp_path / "data"])
    err = capsys.readouterr().err
    assert_one_line_refusal(code, err, "train.npy")
    assert "pickled" not in err


def _idx(path, dims, payload=b""):
    header = struct.pack(">BBBB", 0, 0, 8, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    with gzip.open(path, "wb") as file:
        file.write(header + payload)


def test_an_idx_header_whose_size_overflows_is_a_corrupt_file(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    mnist = tmp_path / "data" / "mnist"
    mnist.mkdir(parents=True)
    _idx(mnist / "train-images-idx3-ubyte.gz", (2**31, 2**31, 4))  # 2**64 bytes: wraps to 0 in int64
    _idx(mnist / "train-labels-idx1-ubyte.gz", (10,), bytes(10))
    _idx(mnist / "t10k-images-idx3-ubyte.gz", (10, 28, 28), bytes(7840))
    _idx(mnist / "t10k-labels-idx1-ubyte.gz", (10,), bytes(10))
    code = run(["data", "prepare", "mnist", "--data-dir", tmp_path / "data", "--no-verify"])
    assert_one_line_refusal(
        code, capsys.readouterr().err, "train-images-idx3-ubyte.gz", "truncated or corrupt"
    )


def test_a_file_given_as_the_data_folder_is_one_line_from_the_library(tmp_path):
    from maflow.data import load
    from maflow.errors import DataError

    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="is a file"):
        load("mnist", tmp_path / "file")
