import dataclasses

import numpy as np
import pytest
import torch

from maflow.data import DATASETS, binarize, load
from maflow.data.cache import cache_root
from maflow.errors import DataError
from tests.data.writers import write_made_npz, write_mnist


@pytest.fixture
def small_mnist(tmp_path, monkeypatch):
    spec = DATASETS["mnist"]
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(spec, params={**spec.params, "num_val": 3}))
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    write_mnist(tmp_path / "data" / "mnist", num_train=9, num_test=4)
    return tmp_path


def _entries(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def test_cache_is_bit_identical_and_skips_preparation(small_mnist, monkeypatch):
    data_dir = small_mnist / "data"
    fresh = load("mnist", data_dir, verify=False, cache=False)
    assert _entries(small_mnist / "cache") == []
    first = load("mnist", data_dir, verify=False)
    assert any(name.endswith("train.npy") for name in _entries(small_mnist / "cache"))

    def fail(*args, **kwargs):
        raise AssertionError("prepared again although a cached copy exists")

    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], prepare=fail))
    second = load("mnist", data_dir, verify=False)
    for ds in (first, second):
        for name in ("train", "val", "test", "train_labels", "val_labels", "test_labels"):
            a, b = getattr(fresh, name), getattr(ds, name)
            assert a.dtype == b.dtype and np.array_equal(a, b)


def test_cache_invalidated_when_source_or_version_changes(small_mnist, monkeypatch):
    data_dir = small_mnist / "data"
    load("mnist", data_dir, verify=False)
    monkeypatch.setitem(DATASETS, "mnist", dataclasses.replace(DATASETS["mnist"], version=99))
    load("mnist", data_dir, verify=False)
    versions = {p.name.split("-")[0] for p in (small_mnist / "cache" / "mnist").iterdir()}
    assert versions == {"v1", "v99"}
    write_mnist(data_dir / "mnist", num_train=9, num_test=4, seed=5)  # new content, new stamp
    changed = load("mnist", data_dir, verify=False)
    assert len(list((small_mnist / "cache" / "mnist").iterdir())) == 3
    assert np.array_equal(changed.test, load("mnist", data_dir, verify=False, cache=False).test)


def test_interrupted_cache_write_leaves_nothing(small_mnist, monkeypatch):
    calls = []

    def interrupted_save(file, array, allow_pickle=False):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        file.write(b"partial")

    monkeypatch.setattr("maflow.data.cache.np.save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        load("mnist", small_mnist / "data", verify=False)
    assert [p for p in _entries(small_mnist / "cache") if p.endswith(".npy") or ".tmp" in p] == []
    monkeypatch.undo()


def test_damaged_cache_entry_is_prepared_again(small_mnist):
    data_dir = small_mnist / "data"
    reference = load("mnist", data_dir, verify=False)
    for meta in (small_mnist / "cache").rglob("train.npy"):
        meta.write_bytes(b"garbage")
    again = load("mnist", data_dir, verify=False)
    assert np.array_equal(again.train, reference.train)


def test_missing_files_name_the_files_and_where_to_get_them(tmp_path):
    with pytest.raises(DataError) as info:
        load("mnist", tmp_path)
    message = str(info.value)
    assert str(tmp_path / "mnist") in message and "train-images-idx3-ubyte.gz" in message
    assert "t10k-labels-idx1-ubyte.gz" in message and "maflow data fetch mnist" in message
    assert "MAFLOW_DATA" in message and "https://" in message


def test_partially_present_files_are_counted(tmp_path):
    write_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"found 3 of 4"):
        load("mnist", tmp_path)


def test_default_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MAFLOW_DATA", str(tmp_path))
    write_made_npz(tmp_path / "made_uci_binary" / "adult.npz", 123)
    assert load("adult").features == 123
    monkeypatch.delenv("MAFLOW_CACHE", raising=False)
    assert cache_root(tmp_path) == tmp_path / "prepared"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(DataError, match="Did you mean mnist"):
        load("mnsit")


def test_nan_in_a_split_is_reported(tmp_path):
    arrays = write_made_npz(tmp_path / "made_uci_binary" / "adult.npz", 123)
    np.savez(
        tmp_path / "made_uci_binary" / "dna.npz",
        train_data=np.full((2, 180), np.nan, np.float32),
        valid_data=arrays[1][:, :1].repeat(180, 1),
        test_data=arrays[2][:, :1].repeat(180, 1),
    )
    with pytest.raises(DataError, match="other than 0 and 1"):
        load("dna", tmp_path, verify=False)
    # The generic check, after preprocessing, names the split and the first bad row.
    spec = DATASETS["adult"]
    from maflow.data.loader import _to_dataset

    bad = {
        "train": np.zeros((3, 123), np.float32),
        "val": np.zeros((2, 123), np.float32),
        "test": np.zeros((2, 123), np.float32),
    }
    bad["val"][1, 5] = np.nan
    with pytest.raises(DataError, match=r"val split contains NaN or Inf in 1 row\(s\) \(first at row 1\)"):
        _to_dataset(spec, bad).validate()


def test_binarize_draws_fresh_bernoulli_samples():
    x = torch.full((2000, 5), 0.3)
    a, b = binarize(x), binarize(x)
    assert set(a.unique().tolist()) <= {0.0, 1.0} and not torch.equal(a, b)
    assert abs(a.mean().item() - 0.3) < 0.03
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(binarize(x, g1), binarize(x, g2))
    with pytest.raises(TypeError):
        binarize(torch.ones(3, dtype=torch.int64))
