"""Integration tests against the real files in ../shared/data (skipped when absent)."""

from pathlib import Path

import numpy as np
import pytest

from maflow.data import DATASETS, load
from tests.data.shared import SHARED_DATA, needs_shared


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))


@needs_shared("mnist")
@pytest.mark.slow
def test_mnist_checksums_shapes_and_maf_preprocessing():
    grey = load("mnist_grey", SHARED_DATA)  # verify=True: the decompressed sha256 must be canonical
    assert (grey.train.shape, grey.val.shape, grey.test.shape) == (
        (50_000, 784),
        (10_000, 784),
        (10_000, 784),
    )
    assert grey.train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert np.bincount(grey.test_labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    ds = load("mnist", SHARED_DATA, cache=False)
    assert ds.train.shape == (50_000, 784) and ds.train.dtype == np.float32
    # Dequantised pixels stay inside their own 1/256 bin, so the grey levels are recovered exactly.
    unit = ds.to_unit(ds.val[:500].astype(np.float64))
    np.testing.assert_array_equal(np.floor(unit * 256), np.round(grey.val[:500] * 255))
    # The logit bounds for lambda = 1e-6: logit(1e-6) = -13.8155.
    assert -13.82 < ds.train.min() < -13.5 and 13.5 < ds.train.max() < 13.82
    assert DATASETS["mnist"].split_sizes == (50_000, 10_000, 10_000)


@needs_shared("binarized_mnist")
@pytest.mark.slow
def test_binarized_mnist_checksums_and_shapes():
    ds = load("binarized_mnist", SHARED_DATA)
    assert (ds.train.shape, ds.val.shape, ds.test.shape) == ((50_000, 784), (10_000, 784), (10_000, 784))
    assert round(float(ds.train.mean()), 5) == 0.13056 and round(float(ds.test.mean()), 5) == 0.13251


@needs_shared("made_uci_binary")
@pytest.mark.parametrize("name", ["dna", "mushrooms", "nips"])
def test_made_binary_split_sizes(name):
    ds = load(name, SHARED_DATA)
    assert (len(ds.train), len(ds.val), len(ds.test)) == DATASETS[name].split_sizes
    assert ds.features == DATASETS[name].features


@needs_shared("miniboone")
def test_miniboone_validation_and_test_shapes():
    from maflow.data.files import read_bytes, read_npy, sha256_of
    from maflow.errors import DataError

    spec = DATASETS["miniboone"]
    _, num_val, num_test = spec.split_sizes
    val, test = (
        read_npy(SHARED_DATA / "miniboone" / "val.npy"),
        read_npy(SHARED_DATA / "miniboone" / "test.npy"),
    )
    assert val.shape == (num_val, spec.features) and test.shape == (num_test, spec.features)
    assert sha256_of(read_bytes(SHARED_DATA / "miniboone" / "test.npy")).startswith("01b3fc605f33")
    assert abs(float(val.mean())) < 0.05 and np.isfinite(test).all()  # standardised with train+val stats
    # Without train.npy (or data.npy) the set cannot be loaded, and the error says which file is missing.
    with pytest.raises(DataError, match=r"presplit \(found 2 of 3\): train\.npy"):
        load("miniboone", SHARED_DATA)


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist").is_dir(),
    reason="Debian's dataset-fashion-mnist not installed",
)
@pytest.mark.slow
def test_fashion_mnist_from_the_debian_package(tmp_path):
    ds = load("fashion_mnist", tmp_path)  # not in tmp_path: found in the Debian folder
    assert (ds.train.shape, ds.val.shape, ds.test.shape) == ((50_000, 784), (10_000, 784), (10_000, 784))
    assert np.bincount(ds.test_labels).tolist() == [1000] * 10
    assert np.bincount(np.concatenate([ds.train_labels, ds.val_labels])).tolist() == [6000] * 10
