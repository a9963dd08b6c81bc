"""The registry of data sets: ``DATASETS[name]`` is a ``DatasetSpec``."""

from __future__ import annotations

from maflow.data import specs_images, specs_tabular
from maflow.data.spec import DatasetSpec

__all__ = ["DATASETS", "register_dataset"]

DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Adds (or replaces) a data set in the registry."""
    DATASETS[spec.name] = spec
    return spec


for _spec in (*specs_images.SPECS, *specs_tabular.SPECS):
    register_dataset(_spec)
