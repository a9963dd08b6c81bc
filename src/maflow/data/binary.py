"""The MADE paper's binary UCI data sets (``.npz`` with train_data / valid_data / test_data)."""

from __future__ import annotations

import numpy as np

from maflow.data.files import read_npz_arrays
from maflow.data.source import Source
from maflow.errors import DataError

__all__ = ["MADE_BINARY_SIZES", "prepare_made_npz"]

# (features, train, valid, test), as in Larochelle and Murray (2011), Table 1, and the MADE paper.
MADE_BINARY_SIZES = {
    "adult": (123, 5000, 1414, 26147),
    "connect4": (126, 16000, 4000, 47557),
    "dna": (180, 1400, 600, 1186),
    "mushrooms": (112, 2000, 500, 5624),
    "nips": (500, 400, 100, 1240),
    "ocr_letters": (128, 32152, 10000, 10000),
    "rcv1": (150, 40000, 10000, 150000),
    "web": (300, 14000, 3188, 32561),
}
_KEYS = {"train": "train_data", "val": "valid_data", "test": "test_data"}


def prepare_made_npz(source: Source) -> dict:
    """Reads the three splits as distributed, checking that they are 0/1 of the right width."""
    name = source.file_layout.files[0]
    path = source.paths[name]
    if source.verify and source.spec.checksums.get(name):
        source.content(name)  # verifies the checksum of the archive itself
    arrays = read_npz_arrays(path, tuple(_KEYS.values()))
    out = {}
    for split, key in _KEYS.items():
        x = np.asarray(arrays[key])
        if x.ndim != 2 or x.shape[1] != source.spec.features:
            raise DataError(
                f"{path}: {key} has shape {x.shape}, expected (N, {source.spec.features}) for "
                f"{source.spec.name}; the file belongs to another data set or is corrupt"
            )
        x = x.astype(np.float32)
        if not np.isin(x, (0.0, 1.0)).all():
            raise DataError(f"{path}: {key} holds values other than 0 and 1; it is not a binary data set")
        out[split] = x
    return out
