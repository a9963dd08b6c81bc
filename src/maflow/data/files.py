"""Readers for the raw file formats (IDX, .amat, .npz, .npy), gzip-transparent, with clear errors."""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from maflow.errors import DataError

__all__ = ["find_file", "read_bytes", "sha256_of", "read_idx", "read_amat", "read_npy", "read_npz_arrays"]

_IDX_DTYPES: dict[int, np.typing.DTypeLike] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def find_file(folder: Path, name: str) -> Path | None:
    """Returns ``folder / name`` if it exists, else its gzipped or un-gzipped twin, else None."""
    candidates = [name[:-3]] if name.endswith(".gz") else [name + ".gz"]
    for candidate in [name, *candidates]:
        path = Path(folder) / candidate
        if path.is_file():
            return path
    return None


def read_bytes(path: str | os.PathLike) -> bytes:
    """The file's content, decompressed if it is gzip (detected by its magic bytes, not its name)."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            magic = file.read(2)
        if magic == b"\x1f\x8b":
            with gzip.open(path, "rb") as file:
                return file.read()
        return path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(
            f"cannot read {path}: {error}; the file is truncated or corrupt, fetch it again"
        ) from None


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def check_sha256(path: Path, content: bytes, expected: str | None, dataset: str) -> None:
    """Raises DataError when the (decompressed) content does not have the canonical checksum."""
    if expected is None:
        return
    actual = sha256_of(content)
    if actual != expected:
        raise DataError(
            f"checksum mismatch for {path}: sha256 of its content is {actual}, the canonical file's is "
            f"{expected}. The file is corrupt or a different version: delete it and run "
            f"`maflow data fetch {dataset}`, or pass verify=False (--no-verify) to use it anyway"
        )


def read_idx(path: Path, content: bytes | None = None) -> np.ndarray:
    """Reads an IDX file (MNIST, Fashion-MNIST): big-endian header, then the raw array."""
    content = read_bytes(path) if content is None else content
    if len(content) < 4 or content[0] != 0 or content[1] != 0 or content[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number {content[:4].hex()}); fetch it again")
    dtype, ndim = np.dtype(_IDX_DTYPES[content[2]]), content[3]
    header = 4 + 4 * ndim
    shape = tuple(int(n) for n in np.frombuffer(content, ">u4", count=ndim, offset=4))
    expected = header + math.prod(shape) * dtype.itemsize  # Python ints: a forged header cannot overflow
    if len(content) != expected:
        raise DataError(
            f"{path} has {len(content)} bytes but its IDX header (shape {shape}) says {expected}: "
            "the file is truncated or corrupt, fetch it again"
        )
    return np.frombuffer(content, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_amat(path: Path, features: int, content: bytes | None = None) -> np.ndarray:
    """Reads Larochelle's ``.amat`` text: one row of space-separated 0/1 values per line."""
    content = read_bytes(path) if content is None else content
    row_bytes = 2 * features
    raw = np.frombuffer(content, np.uint8)
    if raw.size and raw.size % row_bytes == 0:  # the canonical layout: "0 1 ... 0\n"
        rows = raw.reshape(-1, row_bytes)
        if (rows[:, 1:-1:2] == ord(" ")).all() and (rows[:, -1] == ord("\n")).all():
            values = rows[:, 0::2] - ord("0")
            if (values <= 1).all():
                return values.astype(np.float32)
    try:  # any other whitespace layout
        values = np.loadtxt(content.decode("ascii").splitlines(), dtype=np.float32, ndmin=2)
    except ValueError as error:
        raise DataError(f"{path} is not a valid .amat file ({error}); fetch it again") from None
    if values.shape[1] != features:
        raise DataError(f"{path} has rows of {values.shape[1]} values, expected {features}")
    if not np.isin(values, (0.0, 1.0)).all():
        raise DataError(f"{path} holds values other than 0 and 1; it is not a binarized data set")
    return values


def real_numeric(path, array: np.ndarray, name: str = "") -> np.ndarray:
    """The array if it holds real numbers (or booleans); complex, text, structured or date arrays are refused."""
    kind = array.dtype.kind
    if array.dtype.names is not None or kind not in "biuf":
        what = {
            "c": "complex numbers",
            "U": "text",
            "S": "bytes",
            "O": "objects",
            "M": "dates",
            "m": "durations",
        }
        found = "named fields (a structured array)" if array.dtype.names else what.get(kind, str(array.dtype))
        label = f"{path}{f' ({name})' if name else ''}"
        raise DataError(
            f"{label} holds {found}, not real numbers: save a float array (e.g. x.astype('float32'))"
        )
    return array


def read_npy(path: Path) -> np.ndarray:
    """Loads a ``.npy`` array of real numbers without pickle support."""
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except OSError as error:
        raise DataError(f"cannot read {path}: {error}") from None
    if magic != b"\x93NUMPY":
        raise DataError(
            f"{path} is not a .npy file (it does not start with numpy's header; a text or CSV file "
            "named .npy?): save it with numpy.save, or give it the extension of its format"
        )
    try:
        return real_numeric(path, np.load(path, allow_pickle=False))
    except ValueError as error:
        raise DataError(
            f"{path} cannot be read as a plain .npy array ({str(error)[:200]}); it is corrupt or holds "
            "pickled objects, which maflow does not load"
        ) from None
    except (OSError, EOFError) as error:
        raise DataError(f"cannot read {path}: {error}; the file is truncated or corrupt") from None


def read_npz_arrays(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Loads the named arrays of an ``.npz`` file without pickle support."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise DataError(f"{path} has no array(s) {missing}; it has {sorted(archive.files)}")
            with warnings.catch_warnings():  # the MADE files were written by Python 2: harmless
                warnings.filterwarnings("ignore", message=".*created on Python 2")
                return {key: real_numeric(path, archive[key], key) for key in keys}
    except DataError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(
            f"cannot read {path} as a plain .npz archive ({str(error)[:200]}); it is corrupt"
        ) from None
