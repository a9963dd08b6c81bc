"""Tests of the MNF uncertainty studies' data and image helpers."""

import gzip
import struct

import numpy as np
import pytest

from maflow.errors import DataError
from maflow.evaluate.mnf import fashion_test_images, rotate_images


def _write_idx(path, array):
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def _fake_fashion(folder):
    folder.mkdir(parents=True, exist_ok=True)
    test = np.arange(3 * 784).reshape(3, 28, 28) % 256
    _write_idx(folder / "train-images-idx3-ubyte.gz", np.zeros((10_001, 28, 28)))
    _write_idx(folder / "train-labels-idx1-ubyte.gz", np.zeros(10_001))
    _write_idx(folder / "t10k-images-idx3-ubyte.gz", test)
    _write_idx(folder / "t10k-labels-idx1-ubyte.gz", np.array([4, 5, 6]))
    return test.reshape(3, 784) / 255


@pytest.mark.parametrize("subfolder", ["", "fashion_mnist"])
def test_fashion_images_are_read_as_grey_pixels_from_either_layout(tmp_path, subfolder):
    expected = _fake_fashion(tmp_path / subfolder)
    images, labels = fashion_test_images(tmp_path)
    assert images.dtype == np.float32 and np.allclose(images, expected)
    assert labels.tolist() == [4, 5, 6]


def test_missing_fashion_files_say_how_to_get_them(tmp_path, monkeypatch):
    import maflow.data.loader

    monkeypatch.setattr(maflow.data.loader, "locate", lambda *args, **kwargs: None)  # hide system copies
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        fashion_test_images(tmp_path)


def test_rotation_by_90_degrees_turns_a_bar_upright():
    image = np.zeros((28, 28), dtype=np.float32)
    image[14, 4:24] = 1.0  # a horizontal bar through the centre
    rotated = rotate_images(image, [90])[0]
    assert rotated[4:24, 14].mean() > 0.9 and rotated[14, 4:10].max() < 0.1
    assert rotated.min() >= 0 and rotated.max() <= 1


def test_rotation_matches_scipy_on_a_digit_within_1e_6():
    # The torch rotation (affine_grid + grid_sample, bilinear, zeros outside) is scipy's order-1
    # rotation about the centre with mode="constant"; the digit is an 8x8 one scaled to 20x20.
    ndimage = pytest.importorskip("scipy.ndimage")
    datasets = pytest.importorskip("sklearn.datasets")
    digit = datasets.load_digits().images[7] / 16.0
    image = np.zeros((28, 28), dtype=np.float32)
    image[4:24, 4:24] = np.kron(digit, np.ones((3, 3)))[2:22, 2:22]
    angles = [0, 15, 45, 90, 137.5, 180, 250, 300]
    expected = np.stack(
        [ndimage.rotate(image, a, reshape=False, order=1, mode="constant", cval=0.0) for a in angles]
    )
    assert np.abs(rotate_images(image, angles) - np.clip(expected, 0, 1)).max() < 1e-6


def test_auroc_matches_scikit_learn_with_ties():
    from maflow.evaluate.mnf import auroc

    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.normal(size=500) + labels, 1)  # rounded: many ties
    assert abs(auroc(labels, scores) - metrics.roc_auc_score(labels, scores)) < 1e-12
