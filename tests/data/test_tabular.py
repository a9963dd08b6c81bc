import dataclasses
import os

import numpy as np
import pytest

from maflow.data import DATASETS, load
from maflow.data.preprocess import tail_split
from maflow.data.tabular import drop_correlated_columns, drop_repeated_minimum_columns
from maflow.errors import DataError


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))


def _standardised(splits, reference, ddof=0):
    mean, std = reference.mean(axis=0), reference.std(axis=0, ddof=ddof)
    return [((x - mean) / std).astype(np.float32) for x in splits]


def test_power_shuffle_drop_order_noise_order_and_statistics(tmp_path):
    raw = np.random.RandomState(7).randn(103, 8) * np.arange(1, 9)
    (tmp_path / "power").mkdir()
    np.save(tmp_path / "power" / "data.npy", raw)
    ds = load("power", tmp_path)
    # The rule written out step by step, as in gpapamak/maf datasets/power.py.
    rng = np.random.RandomState(42)
    data = raw.copy()
    rng.shuffle(data)
    data = np.delete(data, 3, axis=1)  # global intensity first
    data = np.delete(data, 1, axis=1)  # then global reactive power
    voltage, active, submetering = 0.01 * rng.rand(103, 1), 0.001 * rng.rand(103, 1), rng.rand(103, 3)
    data = data + np.hstack([active, voltage, submetering, np.zeros((103, 1))])
    train, val, test = tail_split(data)
    assert (len(train), len(val), len(test)) == (84, 9, 10)
    expected = _standardised((train, val, test), np.vstack([train, val]))
    for split, x in zip(("train", "val", "test"), expected):
        np.testing.assert_allclose(ds.split(split), x, rtol=1e-6, atol=1e-6)
    assert ds.kind == "tabular" and ds.features == 6 and ds.train_labels is None
    # Time (the last column) gets no noise: its standardised values are those of the raw column.
    shuffled = raw.copy()
    np.random.RandomState(42).shuffle(shuffled)
    assert np.corrcoef(ds.train[:, 5], shuffled[:84, 7])[0, 1] > 0.999999


def test_power_split_sizes_from_the_rule():
    train, val, test = tail_split(np.empty(2_049_280))
    assert (len(train), len(val), len(test)) == DATASETS["power"].split_sizes


def _gas_text(path, data):
    header = "Time (seconds), CO conc (ppm), Ethylene conc (ppm), Sensor readings (16 channels)\n"
    path.write_text(header + "\n".join("  ".join(f"{v:.6f}" for v in row) for row in data) + "\n")


def _gas_sensors(rng, n):
    independent = rng.randn(n, 8)
    copies = independent + 0.01 * rng.randn(n, 8)  # correlation > 0.98 with their partner
    return np.hstack([independent, copies])


def test_gas_text_route_drops_correlated_columns_first_of_each_pair(tmp_path, monkeypatch):
    rng = np.random.RandomState(0)
    sensors = _gas_sensors(rng, 60)
    (tmp_path / "gas").mkdir()
    _gas_text(tmp_path / "gas" / "ethylene_CO.txt", np.hstack([rng.rand(60, 3), sensors]))
    spec = DATASETS["gas"]
    monkeypatch.setitem(DATASETS, "gas", dataclasses.replace(spec, params={**spec.params, "fraction": 1.0}))
    ds = load("gas", tmp_path)
    np.testing.assert_array_equal(drop_correlated_columns(np.round(sensors, 6)), np.arange(8, 16))
    kept = np.round(sensors, 6)[:, 8:]
    whole = (kept - kept.mean(0)) / kept.std(0, ddof=1)  # statistics of the WHOLE set, ddof=1
    for split, x in zip(("train", "val", "test"), tail_split(whole)):
        np.testing.assert_allclose(ds.split(split), x.astype(np.float32), rtol=1e-5, atol=1e-5)


def test_gas_text_route_default_takes_a_seeded_quarter(tmp_path):
    rng = np.random.RandomState(1)
    (tmp_path / "gas").mkdir()
    _gas_text(tmp_path / "gas" / "ethylene_CO.txt", np.hstack([rng.rand(200, 3), _gas_sensors(rng, 200)]))
    ds = load("gas", tmp_path)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 50
    assert (len(ds.train), len(ds.val), len(ds.test)) == tuple(len(s) for s in tail_split(np.empty(50)))


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-gas-pickle",))


def test_gas_pickle_is_never_opened_without_trust(tmp_path, monkeypatch):
    import pickle

    monkeypatch.chdir(tmp_path)
    (tmp_path / "gas").mkdir()
    (tmp_path / "gas" / "ethylene_CO.pickle").write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(DataError, match="Only the pickle was found.*--trust-pickle"):
        load("gas", tmp_path)
    assert not (tmp_path / "pwned-by-gas-pickle").exists()


def test_gas_split_sizes_from_the_rule():
    assert tuple(len(s) for s in tail_split(np.empty(1_052_065))) == DATASETS["gas"].split_sizes
    assert int(round(0.25 * 4_208_261)) == 1_052_065  # the pickle is a quarter of the UCI rows


def _hepmass_files(folder, rng, wide_test):
    def frame(n):
        labels = (rng.rand(n) < 0.6).astype(float)
        continuous = rng.randn(n, 21)
        discrete = rng.randint(0, 3, (n, 6)).astype(float)
        mass = np.full((n, 1), 1000.0)
        columns = [labels[:, None], continuous[:, :10], discrete, continuous[:, 10:], mass]
        return np.hstack(columns)

    train, test = frame(120), frame(40)
    names = ["# label"] + [f"f{i}" for i in range(27)] + ["mass"]
    folder.mkdir(parents=True)
    np.savetxt(
        folder / "1000_train.csv", train, delimiter=",", header=",".join(names), comments="", fmt="%.8g"
    )
    if wide_test:
        test = np.hstack([test, rng.randn(40, 1)])
    np.savetxt(folder / "1000_test.csv", test, delimiter=",", header=",".join(names), comments="", fmt="%.8g")
    return np.loadtxt(folder / "1000_train.csv", delimiter=",", skiprows=1), np.loadtxt(
        folder / "1000_test.csv", delimiter=",", skiprows=1
    )


@pytest.mark.parametrize("wide_test", [False, True])
def test_hepmass_rules(tmp_path, wide_test):
    train, test = _hepmass_files(tmp_path / "hepmass", np.random.RandomState(2), wide_test)
    ds = load("hepmass", tmp_path)
    signal_train = train[train[:, 0] == 1][:, 1:]
    signal_test = test[test[:, 0] == 1][:, 1:-1]
    mean, std = signal_train.mean(0), signal_train.std(0, ddof=1)  # training statistics only
    keep = np.r_[0:10, 16:27]  # the 6 discrete columns and the constant mass column go
    with np.errstate(invalid="ignore"):
        normalised_train = ((signal_train - mean) / std)[:, keep]
        normalised_test = ((signal_test - mean[: signal_test.shape[1]]) / std[: signal_test.shape[1]])[
            :, keep
        ]
    num_val = int(0.1 * len(normalised_train))
    np.testing.assert_allclose(ds.train, normalised_train[:-num_val], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.val, normalised_train[-num_val:], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ds.test, normalised_test, rtol=1e-5, atol=1e-5)


def test_repeated_minimum_rule_counts_the_minimum_not_the_mode():
    column_mode_repeated = np.r_[np.arange(10.0), np.full(8, 20.0)]  # mode repeats, minimum does not
    column_min_repeated = np.r_[np.zeros(6), np.arange(1.0, 10.0)]
    data = np.stack([column_mode_repeated, np.r_[column_min_repeated, np.arange(3.0)]], axis=1)
    np.testing.assert_array_equal(drop_repeated_minimum_columns(data), [0])


def test_miniboone_tail_split_and_train_val_statistics(tmp_path):
    raw = np.random.RandomState(3).randn(120, 43) * 3 + 1
    (tmp_path / "miniboone").mkdir()
    np.save(tmp_path / "miniboone" / "data.npy", raw)
    ds = load("miniboone", tmp_path)
    train, val, test = tail_split(raw)
    for split, x in zip(("train", "val", "test"), _standardised((train, val, test), np.vstack([train, val]))):
        np.testing.assert_allclose(ds.split(split), x, rtol=1e-6, atol=1e-6)
    assert tuple(len(s) for s in tail_split(np.empty(36_488))) == DATASETS["miniboone"].split_sizes


def test_presplit_layout_and_wrong_width(tmp_path):
    folder = tmp_path / "miniboone"
    folder.mkdir()
    arrays = [np.random.RandomState(i).randn(n, 43) for i, n in enumerate((7, 3, 4))]
    for name, x in zip(("train", "val", "test"), arrays):
        np.save(folder / f"{name}.npy", x)
    ds = load("miniboone", tmp_path)
    np.testing.assert_array_equal(ds.test, arrays[2].astype(np.float32))
    np.save(folder / "val.npy", np.zeros((3, 42)))
    with pytest.raises(DataError, match=r"val split of shape \(3, 42\), expected \(N, 43\)"):
        load("miniboone", tmp_path)
    arrays[1][1, 3] = np.nan
    np.save(folder / "val.npy", arrays[1])
    with pytest.raises(DataError, match="NaN"):
        load("miniboone", tmp_path)


def test_bsds300_hdf5(tmp_path):
    h5py = pytest.importorskip("h5py")
    (tmp_path / "BSDS300").mkdir()
    arrays = [np.random.RandomState(i).rand(n, 63) for i, n in enumerate((6, 2, 3))]
    with h5py.File(tmp_path / "BSDS300" / "BSDS300.hdf5", "w") as file:
        for key, x in zip(("train", "validation", "test"), arrays):
            file[key] = x
    ds = load("bsds300", tmp_path)
    np.testing.assert_array_equal(ds.val, arrays[1].astype(np.float32))
    assert ds.features == 63
