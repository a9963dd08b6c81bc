"""CIFAR-10 (binary or Python version, or their .tar.gz archives) with the MAF preprocessing."""

from __future__ import annotations

import io
import pickle
import tarfile

import numpy as np

from maflow.data.files import read_bytes
from maflow.data.preprocess import dequantize_logit
from maflow.data.source import Source
from maflow.errors import DataError

__all__ = [
    "CIFAR_BATCHES",
    "RestrictedUnpickler",
    "read_python_batch",
    "read_binary_batch",
    "prepare_cifar10",
]

CIFAR_BATCHES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")

# What the CIFAR pickles need: numpy array reconstruction and plain containers. Nothing that runs code.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    *{
        (module, name)
        for module in ("builtins", "__builtin__")
        for name in ("list", "dict", "tuple", "bytes", "str")
    },
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only numpy arrays, dtypes and builtin containers; any other global is refused, so a
    crafted file cannot run code (``pickle.load`` would call whatever the file names).

    Example:
        >>> data = pickle.dumps({"data": np.zeros(2, np.uint8)}, protocol=2)
        >>> RestrictedUnpickler(io.BytesIO(data)).load()["data"].tolist()
        [0, 0]
    """

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name}: CIFAR batches hold only numpy arrays"
        )


def read_python_batch(content: bytes, where) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the Python version: a pickled dict with ``data`` (N, 3072) and ``labels``."""
    try:
        batch = RestrictedUnpickler(io.BytesIO(content), encoding="bytes").load()
    except Exception as error:  # noqa: BLE001 (any failure means: not a CIFAR batch)
        raise DataError(f"{where} is not a CIFAR-10 Python batch ({type(error).__name__}: {error})") from None
    batch = (
        {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}
        if isinstance(batch, dict)
        else {}
    )
    if "data" not in batch or "labels" not in batch:
        raise DataError(f"{where} is not a CIFAR-10 Python batch (no data/labels entries)")
    data, labels = np.asarray(batch["data"]), np.asarray(batch["labels"], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise DataError(
            f"{where}: data {data.dtype} {data.shape}, labels {labels.shape}; expected uint8 (N, 3072)"
        )
    return data, labels


def read_binary_batch(content: bytes, where) -> tuple[np.ndarray, np.ndarray]:
    """One batch of the binary version: records of 1 label byte and 3072 pixel bytes."""
    if len(content) == 0 or len(content) % 3073:
        raise DataError(
            f"{where} has {len(content)} bytes, not a whole number of 3,073-byte CIFAR-10 records"
        )
    records = np.frombuffer(content, np.uint8).reshape(-1, 3073)
    return records[:, 1:].copy(), records[:, 0].astype(np.int64)


def _batches(source: Source):
    layout = source.file_layout
    if layout.name.endswith("archive"):
        path = source.paths[layout.files[0]]
        binary = layout.name.startswith("binary")
        wanted = [name + ".bin" if binary else name for name in CIFAR_BATCHES]
        found = {}
        try:
            with tarfile.open(path, "r:*") as archive:
                for member in archive.getmembers():
                    base = member.name.rsplit("/", 1)[-1]
                    if member.isfile() and base in wanted:
                        member_file = archive.extractfile(member)
                        if member_file is not None:
                            found[base] = member_file.read()  # read in memory, never extracted
        except (tarfile.TarError, OSError, EOFError) as error:
            raise DataError(f"cannot read {path} as a tar archive ({error}); fetch it again") from None
        missing = [name for name in wanted if name not in found]
        if missing:
            raise DataError(f"{path} lacks {missing}; it is not the CIFAR-10 archive")
        return [(found[name], f"{path}:{name}", binary) for name in wanted]
    binary = layout.name == "binary"
    return [(read_bytes(source.paths[name]), source.paths[name], binary) for name in layout.files]


def prepare_cifar10(
    source: Source, num_val: int = 5000, seed: int = 42, lam: float = 0.05, flip: bool = True
):
    """MAF preprocessing (gpapamak/maf ``datasets/cifar10.py``): the five training batches
    concatenated, the last ``num_val`` images as validation; x = (pixel + U(0,1)) / 256 with one
    RandomState(seed) drawn train, val, test; y = logit(lam + (1 - 2 lam) x); then the training
    set only gets horizontally mirrored copies (each planar colour channel) stacked below it."""
    parts = [
        (read_binary_batch if binary else read_python_batch)(content, where)
        for content, where, binary in _batches(source)
    ]
    train = np.concatenate([data for data, _ in parts[:5]])
    train_labels = np.concatenate([labels for _, labels in parts[:5]])
    test, test_labels = parts[5]
    if train.shape[0] <= num_val:
        raise DataError(
            f"CIFAR-10: {train.shape[0]} training images, fewer than the {num_val} for validation"
        )
    cut = train.shape[0] - num_val
    rng = source.rng(seed)
    arrays = {
        "train": dequantize_logit(train[:cut], 256, rng, lam),
        "val": dequantize_logit(train[cut:], 256, rng, lam),
        "test": dequantize_logit(test, 256, rng, lam),
    }
    labels = {
        "train_labels": train_labels[:cut],
        "val_labels": train_labels[cut:],
        "test_labels": test_labels,
    }
    if flip:
        mirrored = arrays["train"].reshape(-1, 3, 32, 32)[:, :, :, ::-1].reshape(-1, 3072)
        arrays["train"] = np.concatenate([arrays["train"], mirrored])
        labels["train_labels"] = np.concatenate([labels["train_labels"], labels["train_labels"]])
    return {**arrays, **labels}
