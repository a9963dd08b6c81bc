"""Data files must hold real numbers: complex, text, structured and object arrays are one clear error."""

import numpy as np
import pytest

from maflow.data.files import read_idx, read_npy, read_npz_arrays
from maflow.errors import DataError


@pytest.mark.parametrize(
    "array, what",
    [
        (np.ones((3, 2), np.complex64), "complex"),
        (np.array([["a", "b"], ["c", "d"]]), "text"),
        (np.zeros(3, dtype=[("x", "f4"), ("y", "f4")]), "structured"),
        (np.array(["2020-01-01"], dtype="datetime64[D]"), "dates"),
    ],
)
def test_non_real_arrays_are_refused(tmp_path, array, what):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(DataError, match=what):
        read_npy(tmp_path / "x.npy")
    np.savez(tmp_path / "x.npz", train=array)
    with pytest.raises(DataError, match=what):
        read_npz_arrays(tmp_path / "x.npz", ("train",))


def test_real_and_boolean_arrays_load(tmp_path):
    np.save(tmp_path / "x.npy", np.arange(6, dtype=np.int16).reshape(3, 2) > 2)
    assert read_npy(tmp_path / "x.npy").shape == (3, 2)


def test_an_idx_header_whose_size_overflows_is_a_data_error(tmp_path):
    header = bytes([0, 0, 0x08, 3]) + (2**31 - 1).to_bytes(4, "big") * 3  # 2^93 bytes claimed
    path = tmp_path / "forged-idx3-ubyte"
    path.write_bytes(header + bytes(16))
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(path)


@pytest.mark.parametrize(
    "train, message",
    [(np.zeros((0, 2), np.float32), "no rows"), (np.ones((5, 2), np.float32), "all identical")],
)
def test_empty_or_degenerate_splits_are_refused(train, message):
    from maflow.data.dataset import Dataset

    other = np.zeros((2, 2), np.float32)
    with pytest.raises(DataError, match=message):
        Dataset("toy", "toy", 2, train=train, val=other, test=other).validate()
