"""Benchmark data sets of the MADE, MAF, IAF and MNF papers, with their published preprocessing,
and data sets of one's own (:func:`from_numpy`, :func:`load_data_file`, :func:`register_dataset`)."""

from maflow.data.arrays import DataOptions, from_numpy, load_data_file
from maflow.data.dataset import Dataset
from maflow.data.loader import default_data_dir, load
from maflow.data.preprocess import binarize
from maflow.data.registry import DATASETS, register_dataset

__all__ = [
    "load",
    "DATASETS",
    "register_dataset",
    "binarize",
    "Dataset",
    "default_data_dir",
    "from_numpy",
    "load_data_file",
    "DataOptions",
]
