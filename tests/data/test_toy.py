import numpy as np
import pytest

from maflow.data import load
from maflow.data.toy import TOY_SAMPLERS


@pytest.mark.parametrize("name", sorted(TOY_SAMPLERS))
def test_toys_are_fixed_seeded_samples(name):
    ds = load(name)
    assert ds.kind == "toy" and ds.features == 2
    assert (ds.train.shape, ds.val.shape, ds.test.shape) == ((10_000, 2), (2_000, 2), (2_000, 2))
    np.testing.assert_array_equal(load(name).test, ds.test)
    assert not np.array_equal(ds.train[:2000], ds.val)  # the splits are different draws
    assert np.abs(ds.train).max() < 10


def test_checkerboard_occupies_alternate_squares():
    x = load("checkerboard").train
    parity = (np.floor(x[:, 0]) + np.floor(x[:, 1])) % 2
    assert np.all(parity == 0) and np.all(np.abs(x) <= 2)
