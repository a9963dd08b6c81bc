"""One's own arrays as a data set: seeded splits, standardisation, checks, context, and reloading."""

import numpy as np
import pytest

from maflow.data import from_numpy
from maflow.data.arrays import DataOptions, load_data_file
from maflow.data.record import load_recorded
from maflow.errors import DataError


def _rows(n=200, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3)) * [1e-3, 1.0, 1e3] + [5.0, 0.0, -2e3]


def test_splits_are_seeded_disjoint_and_standardised_with_the_training_statistics():
    x = _rows()
    ds = from_numpy(x, options=DataOptions(val_fraction=0.2, test_fraction=0.1, split_seed=3))
    assert (len(ds.train), len(ds.val), len(ds.test)) == (140, 40, 20)
    raw = {split: ds.standardization.inverse(ds.split(split)) for split in ("train", "val", "test")}
    together = np.concatenate(list(raw.values()))
    error = np.abs(np.sort(together, axis=0) - np.sort(x, axis=0))
    assert (error <= 1e-5 * np.array([1e-3, 1.0, 1e3])).all()  # a partition of the rows (float32 round-off)
    assert np.allclose(ds.train.mean(0), 0, atol=1e-5) and np.allclose(ds.train.std(0), 1, atol=1e-5)
    assert ds.log_abs_det == pytest.approx(-np.log(raw["train"].std(0)).sum(), rel=1e-6)
    again = from_numpy(x, options=DataOptions(val_fraction=0.2, test_fraction=0.1, split_seed=3))
    other = from_numpy(x, options=DataOptions(val_fraction=0.2, test_fraction=0.1, split_seed=4))
    assert np.array_equal(again.test, ds.test) and not np.array_equal(other.test, ds.test)


def test_given_splits_are_kept():
    x = _rows(30)
    ds = from_numpy(x[:20], x[20:25], x[25:])
    assert np.allclose(ds.standardization.inverse(ds.test), x[25:], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda x: x.__setitem__((7, 1), np.nan), "row 7 holds NaN or Inf in column 1 (1 such row(s))"),
        (lambda x: x.__setitem__((slice(None), 2), 4.0), "column 2 is constant (4 in every training row)"),
    ],
)
def test_bad_values_name_the_row_or_column(change, words):
    x = _rows()
    change(x)
    with pytest.raises(DataError, match=words.replace("(", r"\(").replace(")", r"\)")):
        from_numpy(x)


def test_fewer_training_rows_than_a_batch_are_refused():
    with pytest.raises(DataError, match="160 training rows, fewer than one batch of 500"):
        from_numpy(_rows(), options=DataOptions(min_train_rows=500))


def test_dequantize_adds_unit_noise_to_integers_and_refuses_fractions():
    counts = np.random.default_rng(0).poisson(4.0, size=(300, 2)).astype(float)
    ds = from_numpy(counts, options=DataOptions(dequantize=True))
    raw = ds.standardization.inverse(ds.train)
    assert (raw - np.floor(raw) > 0).all() and np.isin(np.floor(raw), counts).all()
    with pytest.raises(DataError, match="--dequantize is for integer data"):
        from_numpy(counts + 0.5, options=DataOptions(dequantize=True))


def test_context_follows_the_rows_through_the_shuffle():
    x = _rows()
    ds = from_numpy(x, context=x[:, :1] * 10)  # context = 10 * the first column
    raw_x = ds.standardization.inverse(ds.val)
    mean, scale = (np.asarray(ds.context.record["standardization"][k]) for k in ("mean", "scale"))
    raw_c = ds.context.val * scale + mean
    assert np.allclose(raw_c[:, 0], 10 * raw_x[:, 0], rtol=1e-5)


def test_labels_become_one_hot_over_the_training_classes():
    x = _rows()
    labels = (x[:, 1] > 0).astype(int) * 7  # classes 0 and 7
    ds = from_numpy(x, labels=labels)
    assert ds.context.record["classes"] == [0, 7] and ds.context.train.sum(1).tolist() == [1.0] * len(
        ds.train
    )
    with pytest.raises(DataError, match="not a whole-number class label"):
        from_numpy(x, labels=labels + 0.5)


def test_a_run_reloads_its_file_and_refuses_changed_data(tmp_path):
    x = _rows()
    np.save(tmp_path / "x.npy", x)
    ds = load_data_file(tmp_path / "x.npy")
    again = load_recorded(ds.origin)
    assert np.array_equal(again.test, ds.test) and again.name == "x"
    x[150, 0] += 1e-3  # a change in one middle row
    np.save(tmp_path / "moved.npy", x)
    with pytest.raises(DataError, match="is not the data this run was trained on"):
        load_recorded(ds.origin, tmp_path / "moved.npy")


def test_a_moved_file_is_asked_for(tmp_path):
    np.save(tmp_path / "x.npy", _rows())
    ds = load_data_file(tmp_path / "x.npy")
    (tmp_path / "x.npy").rename(tmp_path / "y.npy")
    with pytest.raises(DataError, match="the file this run was trained on, is not there: pass --data PATH"):
        load_recorded(ds.origin)
    assert np.array_equal(load_recorded(ds.origin, tmp_path / "y.npy").test, ds.test)


def test_a_split_without_rows_is_refused_before_training():
    x = _rows(30)
    with pytest.raises(DataError, match="the val split of <arrays> has no rows"):
        from_numpy(x[:20], x[20:20], x[20:])
