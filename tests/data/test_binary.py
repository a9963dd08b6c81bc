import numpy as np
import pytest

from maflow.data import DATASETS, load
from maflow.data.binary import MADE_BINARY_SIZES
from maflow.errors import DataError
from tests.data.writers import write_made_npz


@pytest.mark.parametrize("name", sorted(MADE_BINARY_SIZES))
def test_made_npz_sets(tmp_path, name):
    features = MADE_BINARY_SIZES[name][0]
    arrays = write_made_npz(tmp_path / "made_uci_binary" / f"{name}.npz", features)
    ds = load(name, tmp_path, verify=False)
    assert ds.kind == "binary" and ds.features == features == DATASETS[name].features
    for split, expected in zip(("train", "val", "test"), arrays):
        np.testing.assert_array_equal(ds.split(split), expected)


def test_made_npz_wrong_width_and_checksum(tmp_path):
    write_made_npz(tmp_path / "made_uci_binary" / "dna.npz", 179)
    with pytest.raises(DataError, match=r"valid_data|train_data"):
        load("dna", tmp_path, verify=False)
    with pytest.raises(DataError, match="checksum mismatch"):
        load("dna", tmp_path)


def test_made_npz_with_pickled_objects_is_refused(tmp_path):
    path = tmp_path / "made_uci_binary" / "web.npz"
    path.parent.mkdir()
    np.savez(
        path, train_data=np.array([{"a": 1}], dtype=object), valid_data=np.zeros(1), test_data=np.zeros(1)
    )
    with pytest.raises(DataError, match="cannot read"):
        load("web", tmp_path)
    path.write_bytes(b"not a zip")
    with pytest.raises(DataError, match="corrupt"):
        load("web", tmp_path)
