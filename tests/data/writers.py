"""Writers of tiny synthetic data files in the real formats (IDX, .amat, .npz, ...)."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def idx_bytes(array: np.ndarray) -> bytes:
    assert array.dtype == np.uint8
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path: Path, content: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(content, mtime=0))
    else:
        path.write_bytes(content)
    return path


def write_mnist(folder: Path, num_train=8, num_test=3, gz=True, seed=0):
    """Four IDX files of random 28x28 images; returns (train pixels, train labels, test pixels, test labels)."""
    rng = np.random.RandomState(seed)
    train = rng.randint(0, 256, (num_train, 28, 28)).astype(np.uint8)
    test = rng.randint(0, 256, (num_test, 28, 28)).astype(np.uint8)
    train_labels = rng.randint(0, 10, num_train).astype(np.uint8)
    test_labels = rng.randint(0, 10, num_test).astype(np.uint8)
    for name, array in zip(IDX_NAMES, (train, train_labels, test, test_labels)):
        write(Path(folder) / name, idx_bytes(array), gz)
    return train, train_labels, test, test_labels


def amat_bytes(array: np.ndarray) -> bytes:
    return "".join(" ".join(str(int(v)) for v in row) + "\n" for row in array).encode()


def write_binarized_mnist(folder: Path, sizes=(5, 3, 2), gz=True, seed=0):
    rng = np.random.RandomState(seed)
    arrays = [(rng.rand(n, 784) < 0.3).astype(np.uint8) for n in sizes]
    for split, array in zip(("train", "valid", "test"), arrays):
        write(Path(folder) / f"binarized_mnist_{split}.amat", amat_bytes(array), gz)
    return arrays


def write_made_npz(path: Path, features: int, sizes=(6, 4, 3), seed=0):
    rng = np.random.RandomState(seed)
    arrays = [(rng.rand(n, features) < 0.5).astype(np.float32) for n in sizes]
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(
        path,
        train_data=arrays[0],
        valid_data=arrays[1],
        test_data=arrays[2],
        train_length=np.int32(sizes[0]),
        valid_length=np.int32(sizes[1]),
        test_length=np.int32(sizes[2]),
        inputsize=np.int32(features),
    )
    return arrays


def write_cifar_python(folder: Path, per_batch=4, seed=0):
    """Six pickled batches as the Python version stores them (Python 2 style bytes keys)."""
    import pickle

    rng = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    batches = []
    for name in (
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ):
        data = rng.randint(0, 256, (per_batch, 3072)).astype(np.uint8)
        labels = rng.randint(0, 10, per_batch).tolist()
        (folder / name).write_bytes(pickle.dumps({b"batch_label": b"x", b"data": data, b"labels": labels}, 2))
        batches.append((data, np.array(labels)))
    return batches


def write_cifar_binary(folder: Path, batches):
    folder.mkdir(parents=True, exist_ok=True)
    names = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch")
    for name, (data, labels) in zip(names, batches):
        records = np.concatenate([labels.astype(np.uint8)[:, None], data], axis=1)
        (folder / f"{name}.bin").write_bytes(records.tobytes())
