import dataclasses

import numpy as np
import pytest

from maflow.data import DATASETS, load
from maflow.data.preprocess import logit_transform
from maflow.errors import DataError
from tests.data.writers import IDX_NAMES, idx_bytes, write, write_binarized_mnist, write_mnist


@pytest.fixture
def small_split(monkeypatch):
    """Registry entries with 3 validation images instead of 10,000, so tiny files can be split."""
    for name in ("mnist", "mnist_grey", "dynamic_binarized_mnist", "fashion_mnist"):
        spec = DATASETS[name]
        monkeypatch.setitem(DATASETS, name, dataclasses.replace(spec, params={**spec.params, "num_val": 3}))
    monkeypatch.setenv("MAFLOW_CACHE", "")


def _expected_logit(pixels, noise):
    return logit_transform((pixels.reshape(len(pixels), -1) + noise) / 256.0, 1e-6).astype(np.float32)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_maf_rules(tmp_path, small_split, gz):
    train, train_labels, test, test_labels = write_mnist(tmp_path / "mnist", num_train=8, num_test=3, gz=gz)
    ds = load("mnist", tmp_path, verify=False, cache=False)
    # Split: first N - 3 training images, then the last 3, then the test file.
    assert ds.train.shape == (5, 784) and ds.val.shape == (3, 784) and ds.test.shape == (3, 784)
    np.testing.assert_array_equal(ds.train_labels, train_labels[:5].astype(np.int64))
    np.testing.assert_array_equal(ds.val_labels, train_labels[5:].astype(np.int64))
    np.testing.assert_array_equal(ds.test_labels, test_labels.astype(np.int64))
    # Noise: ONE RandomState(42), drawn train, then val, then test; (pixel + U) / 256; lambda 1e-6.
    rng = np.random.RandomState(42)
    noise = [rng.rand(n, 784) for n in (5, 3, 3)]
    np.testing.assert_array_equal(ds.train, _expected_logit(train[:5], noise[0]))
    np.testing.assert_array_equal(ds.val, _expected_logit(train[5:], noise[1]))
    np.testing.assert_array_equal(ds.test, _expected_logit(test, noise[2]))
    assert ds.kind == "image" and ds.image_shape == (1, 28, 28) and ds.logit_lambda == 1e-6
    assert ds.num_classes == 10 and ds.quantization_levels == 256 and ds.train.dtype == np.float32
    # Pixel 255 plus noise stays below 1 (the /256, not /255, rule): to_unit lands in [255/256, 1).
    unit = ds.to_unit(ds.train.astype(np.float64))
    assert np.all(np.floor(unit * 256) == train[:5].reshape(5, -1))


def test_mnist_grey_and_dynamic_binarized(tmp_path, small_split):
    train, train_labels, test, _ = write_mnist(tmp_path / "mnist")
    grey = load("mnist_grey", tmp_path, verify=False)
    np.testing.assert_array_equal(grey.val, (train[5:].reshape(3, -1) / 255).astype(np.float32))
    np.testing.assert_array_equal(grey.test, (test.reshape(3, -1) / 255).astype(np.float32))
    assert grey.kind == "image" and grey.logit_lambda is None and grey.train_labels.dtype == np.int64
    dynamic = load("dynamic_binarized_mnist", tmp_path, verify=False)
    assert dynamic.kind == "binary"
    np.testing.assert_array_equal(dynamic.train, grey.train)


def test_fashion_mnist_uses_its_own_folder(tmp_path, small_split):
    train, *_ = write_mnist(tmp_path / "fashion_mnist", seed=1)
    ds = load("fashion_mnist", tmp_path, verify=False, cache=False)
    expected = _expected_logit(train[:5], np.random.RandomState(42).rand(5, 784))
    np.testing.assert_array_equal(ds.train, expected)
    with pytest.raises(DataError, match="mnist"):  # the MNIST files are not Fashion-MNIST's
        load("mnist", tmp_path, verify=False)


def test_mnist_checksum_mismatch_is_reported(tmp_path, small_split):
    write_mnist(tmp_path / "mnist")
    with pytest.raises(DataError, match=r"checksum mismatch .*train-images-idx3-ubyte\.gz.*--no-verify"):
        load("mnist", tmp_path)


def test_mnist_too_few_training_images_for_the_split(tmp_path, small_split):
    write_mnist(tmp_path / "mnist", num_train=3)
    with pytest.raises(DataError, match="3 validation images"):
        load("mnist", tmp_path, verify=False)


def test_idx_shape_and_truncation_errors(tmp_path, small_split):
    write_mnist(tmp_path / "mnist", gz=False)
    wrong = np.zeros((8, 27, 28), np.uint8)  # wrong shape
    write(tmp_path / "mnist" / IDX_NAMES[0], idx_bytes(wrong), gz=False)
    with pytest.raises(DataError, match="28x28"):
        load("mnist", tmp_path, verify=False)
    content = idx_bytes(np.zeros((8, 28, 28), np.uint8))
    write(tmp_path / "mnist" / IDX_NAMES[0], content[:-5], gz=False)
    with pytest.raises(DataError, match="truncated"):
        load("mnist", tmp_path, verify=False)
    write(tmp_path / "mnist" / IDX_NAMES[0], idx_bytes(np.zeros((7, 28, 28), np.uint8)), gz=False)
    with pytest.raises(DataError, match="do not belong together"):
        load("mnist", tmp_path, verify=False)


def test_binarized_mnist_amat(tmp_path):
    arrays = write_binarized_mnist(tmp_path / "binarized_mnist", sizes=(5, 3, 2))
    ds = load("binarized_mnist", tmp_path, verify=False)
    for split, expected in zip(("train", "val", "test"), arrays):
        np.testing.assert_array_equal(ds.split(split), expected.astype(np.float32))
    assert ds.kind == "binary" and ds.train_labels is None


def test_binarized_mnist_loose_whitespace_and_bad_values(tmp_path):
    folder = tmp_path / "binarized_mnist"
    arrays = write_binarized_mnist(folder, sizes=(2, 2, 2), gz=False)
    loose = "\n".join("  ".join(str(v) for v in row) for row in arrays[0]).encode() + b"\r\n"
    (folder / "binarized_mnist_train.amat").write_bytes(loose)
    np.testing.assert_array_equal(load("binarized_mnist", tmp_path, verify=False).train, arrays[0])
    (folder / "binarized_mnist_train.amat").write_bytes(b"0 2 1\n")
    with pytest.raises(DataError, match="784"):
        load("binarized_mnist", tmp_path, verify=False)


def test_digits_split_noise_and_logit():
    from sklearn.datasets import load_digits

    ds = load("digits")
    assert (len(ds.train), len(ds.val), len(ds.test)) == DATASETS["digits"].split_sizes == (1457, 161, 179)
    bunch = load_digits()
    rng = np.random.RandomState(42)
    order = rng.permutation(1797)
    values = bunch.data[order]
    noise_train = rng.rand(1457, 64)
    expected = logit_transform((values[:1457] + noise_train) / 17.0, 1e-6).astype(np.float32)
    np.testing.assert_array_equal(ds.train, expected)
    np.testing.assert_array_equal(ds.test_labels, bunch.target[order][-179:])
    # Same data on every call: a fixed, seeded preparation.
    np.testing.assert_array_equal(load("digits").val, ds.val)
