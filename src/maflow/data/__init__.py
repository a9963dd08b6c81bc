"""Benchmark data sets of the MADE, MAF, IAF and MNF papers, with their published preprocessing."""

from maflow.data.dataset import Dataset
from maflow.data.loader import default_data_dir, load
from maflow.data.preprocess import binarize
from maflow.data.registry import DATASETS

__all__ = ["load", "DATASETS", "binarize", "Dataset", "default_data_dir"]
