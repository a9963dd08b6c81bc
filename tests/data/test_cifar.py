import dataclasses
import os
import pickle
import tarfile

import numpy as np
import pytest

from maflow.data import DATASETS, load
from maflow.data.preprocess import logit_transform
from maflow.errors import DataError
from tests.data.writers import write_cifar_binary, write_cifar_python


@pytest.fixture(autouse=True)
def small_validation(tmp_path, monkeypatch):
    spec = DATASETS["cifar10"]
    monkeypatch.setitem(DATASETS, "cifar10", dataclasses.replace(spec, params={**spec.params, "num_val": 5}))
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))


def _expected(batches):
    train = np.concatenate([d for d, _ in batches[:5]])
    rng = np.random.RandomState(42)
    out = [
        logit_transform((x + rng.rand(*x.shape)) / 256.0, 0.05).astype(np.float32)
        for x in (train[:15], train[15:], batches[5][0])
    ]
    return out, np.concatenate([lab for _, lab in batches[:5]])


def _check(ds, batches):
    (train, val, test), labels = _expected(batches)
    assert ds.train.shape == (30, 3072) and ds.val.shape == (5, 3072) and ds.test.shape == (4, 3072)
    np.testing.assert_array_equal(ds.train[:15], train)
    np.testing.assert_array_equal(ds.val, val)
    np.testing.assert_array_equal(ds.test, test)
    # Flips: after the logit, training set only, each planar channel mirrored left-right.
    np.testing.assert_array_equal(
        ds.train[15:].reshape(-1, 3, 32, 32), train.reshape(-1, 3, 32, 32)[..., ::-1]
    )
    np.testing.assert_array_equal(ds.train_labels, np.concatenate([labels[:15], labels[:15]]))
    assert ds.image_shape == (3, 32, 32) and ds.logit_lambda == 0.05


def test_cifar_python_version(tmp_path):
    batches = write_cifar_python(tmp_path / "cifar10" / "cifar-10-batches-py")
    _check(load("cifar10", tmp_path), batches)


def test_cifar_binary_version_and_archive(tmp_path):
    batches = write_cifar_python(tmp_path / "py")
    write_cifar_binary(tmp_path / "bin" / "cifar-10-batches-bin", batches)
    (tmp_path / "cifar10").mkdir()
    with tarfile.open(tmp_path / "cifar10" / "cifar-10-binary.tar.gz", "w:gz") as archive:
        archive.add(tmp_path / "bin" / "cifar-10-batches-bin", arcname="cifar-10-batches-bin")
    _check(load("cifar10", tmp_path), batches)


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-cifar",))


def test_cifar_pickle_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_cifar_python(tmp_path / "cifar10")
    (tmp_path / "cifar10" / "data_batch_3").write_bytes(pickle.dumps({b"data": _Exploit(), b"labels": []}))
    with pytest.raises(DataError, match=r"refusing to load (posix|nt)\.system"):
        load("cifar10", tmp_path)
    assert not (tmp_path / "pwned-by-cifar").exists()


def test_cifar_corrupt_binary_batch(tmp_path):
    batches = write_cifar_python(tmp_path / "py")
    write_cifar_binary(tmp_path / "cifar10", batches)
    with open(tmp_path / "cifar10" / "test_batch.bin", "ab") as file:
        file.write(b"\0" * 10)
    with pytest.raises(DataError, match="3,073-byte"):
        load("cifar10", tmp_path)


def test_cifar_split_sizes_from_the_rule():
    assert DATASETS["cifar10"].split_sizes == (2 * 45_000, 5_000, 10_000)
