"""The registry of data sets: ``DATASETS[name]`` is a ``DatasetSpec``."""

from __future__ import annotations

from maflow.data import specs_images, specs_tabular
from maflow.data.spec import DatasetSpec

__all__ = ["DATASETS", "register_dataset"]

DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Adds (or replaces) a named data set, so that ``load(name)`` and ``maflow train --dataset
    name`` know it.

    The :class:`~maflow.data.spec.DatasetSpec` says what the data set is (``kind``, ``features``),
    where its files are (``folder`` under the data directory and the accepted ``layouts``; no
    folder for generated data) and how its splits are made: ``prepare(source, **params)``
    returns ``{"train": ..., "val": ..., "test": ...}`` of float32 arrays (N, D), which
    :func:`maflow.data.load` checks (shapes, finiteness, at least two different training rows)
    and caches. Registration lasts for the process: register in the module that trains (or in
    a module imported before ``maflow.cli.main``). For a one-off array, :func:`maflow.data.from_numpy`
    is shorter; for a file, ``maflow train --data PATH``.

    Arguments:
        spec: the data set's specification; a spec of the same name is replaced.

    Returns:
        The spec, so that it can be used as an expression.

    Example:
        >>> import numpy as np
        >>> from maflow.data import DATASETS, load
        >>> from maflow.data.spec import DatasetSpec
        >>> def prepare(source, n=300):
        ...     rng = np.random.default_rng(0)
        ...     x = rng.normal(size=(n, 2)).astype(np.float32)
        ...     return {"train": x[:200], "val": x[200:250], "test": x[250:]}
        >>> spec = register_dataset(DatasetSpec(
        ...     name="my_gaussian", kind="tabular", features=2, split_sizes=(200, 50, 50),
        ...     folder=None, layouts=(), prepare=prepare, cache=False))
        >>> load("my_gaussian")
        Dataset('my_gaussian', kind='tabular', features=2, splits=200/50/50)
        >>> _ = DATASETS.pop("my_gaussian")  # registrations last for the process
    """
    DATASETS[spec.name] = spec
    return spec


for _spec in (*specs_images.SPECS, *specs_tabular.SPECS):
    register_dataset(_spec)
