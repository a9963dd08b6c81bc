"""``load(name)``: find a data set's files, prepare (or read the cached) splits, and check them."""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

from tqdm import tqdm

from maflow.data.cache import cache_dir, cache_root, cache_stamp, read_cache, write_cache
from maflow.data.dataset import SPLITS, Dataset
from maflow.data.files import find_file
from maflow.data.registry import DATASETS
from maflow.data.source import Source
from maflow.data.spec import DatasetSpec
from maflow.data.tabular import prepare_presplit
from maflow.errors import DataError

__all__ = ["load", "get_spec", "default_data_dir", "search_folders", "locate", "missing_message"]


def default_data_dir() -> Path:
    """``$MAFLOW_DATA`` if set, else ``~/.cache/maflow``."""
    return Path(os.environ.get("MAFLOW_DATA") or "~/.cache/maflow").expanduser()


def get_spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        close = difflib.get_close_matches(name, DATASETS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise DataError(f"unknown data set {name!r}.{hint} Known: {', '.join(sorted(DATASETS))}")
    return DATASETS[name]


def search_folders(spec: DatasetSpec, data_dir: Path) -> list[Path]:
    """Where the files are looked for: ``<data_dir>/<folder>`` (also lower-case), or ``data_dir``
    itself when it is that folder (``--data-dir ~/data/mnist``)."""
    if spec.folder is None:  # embedded or generated data: no folder of its own
        return [Path(folder) for folder in spec.system_folders]
    folders = [data_dir / spec.folder]
    if spec.folder.lower() != spec.folder:
        folders.append(data_dir / spec.folder.lower())
    if data_dir.name.lower() == spec.folder.lower():
        folders.append(data_dir)
    return [*folders, *(Path(folder) for folder in spec.system_folders)]


def locate(spec: DatasetSpec, data_dir: Path, allow_pickle: bool = False) -> Source | None:
    """The first folder and layout in which every file exists, or None."""
    for folder in search_folders(spec, data_dir):
        for layout in spec.layouts:
            if layout.trusted_only and not allow_pickle:
                continue
            found = {name: find_file(folder, name) for name in layout.files}
            paths = {name: path for name, path in found.items() if path is not None}
            if len(paths) == len(found):
                return Source(spec, folder, layout, paths, allow_pickle=allow_pickle)
    return None


def missing_message(spec: DatasetSpec, data_dir: Path, allow_pickle: bool = False) -> str:
    folder = search_folders(spec, data_dir)[0]
    lines = [f"{spec.name}: data files not found. maflow looks in {folder} for:"]
    for layout in spec.layouts:
        found = [name for name in layout.files if find_file(folder, name)]
        note = " [pickle: only with allow_pickle=True / --trust-pickle]" if layout.trusted_only else ""
        have = f" (found {len(found)} of {len(layout.files)})" if found else ""
        lines.append(f"  - {layout.name}{note}{have}: {', '.join(layout.files)}")
    if any(name.endswith(".gz") for layout in spec.layouts for name in layout.files):
        lines.append("  (gzipped or not, either is accepted)")
    trusted = [layout for layout in spec.layouts if layout.trusted_only]
    if trusted and not allow_pickle and locate(spec, data_dir, allow_pickle=True):
        lines.append(
            "  Only the pickle was found. Unpickling runs code stored in the file: if you trust it, pass "
            "allow_pickle=True (--trust-pickle), or convert it once to the pickle-free layout."
        )
    if spec.downloads:
        urls = ", ".join(download.url for download in spec.downloads)
        lines.append(f"Get them with `maflow data fetch {spec.name} --data-dir {data_dir}` (from {urls}),")
        lines.append(f"or download them yourself into {folder}.")
    else:
        lines.append(f"Source: {spec.source}. Put the files into {folder}.")
    lines.append("Set the data directory with --data-dir or the MAFLOW_DATA environment variable.")
    return "\n".join(lines)


def load(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    verify: bool = True,
    allow_pickle: bool = False,
    cache: bool = True,
) -> Dataset:
    """Loads data set ``name`` with its published preprocessing applied.

    Arguments:
        name: a key of ``DATASETS``.
        data_dir: folder holding ``<folder>/<files>``; default ``$MAFLOW_DATA``, else ``~/.cache/maflow``.
        verify: check the canonical checksums while preparing (not when reading the cache).
        allow_pickle: trust pickled source files (GAS's DataFrame); never needed otherwise.
        cache: read and write prepared splits under ``cache_root(data_dir)``.

    Raises:
        DataError: a missing file (naming it and where to get it), or a corrupt one.

    Example:
        >>> ds = load("moons")
        >>> ds.features, ds.train.shape, ds.train.dtype.name
        (2, (10000, 2), 'float32')
    """
    spec = get_spec(name)
    data_dir = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    if data_dir.is_file():
        raise DataError(
            f"the data folder {data_dir} is a file: give the folder that holds <data set>/<files>"
        )
    if spec.embedded:
        source = Source(spec, None, None, {})
    else:
        located = locate(spec, data_dir, allow_pickle)
        if located is None:
            raise DataError(missing_message(spec, data_dir, allow_pickle))
        source = located
        source.verify = verify
    arrays = None
    use_cache = cache and spec.cache and not spec.embedded
    if use_cache:
        stamp = cache_stamp(source)
        entry = cache_dir(cache_root(data_dir), stamp)
        arrays = read_cache(entry, stamp)
    if arrays is None:
        # Reading, checking and preprocessing the source files can take minutes (MNIST, GAS,
        # HEPMASS); a bar says which stage is running (tqdm leaves it off when not at a terminal).
        with tqdm(total=3, desc=f"preparing {spec.name}", unit="stage", disable=None, leave=False) as bar:
            bar.set_postfix_str("reading and preprocessing")
            if source.layout is not None and source.layout.preprocessed:
                arrays = prepare_presplit(source)
            else:
                arrays = spec.prepare(source, **spec.params)
            bar.update()
            bar.set_postfix_str("checking")
            dataset = _to_dataset(spec, arrays).validate()  # never cache arrays that fail the checks
            bar.update()
            if use_cache:
                bar.set_postfix_str("writing the cache")
                write_cache(entry, arrays, stamp)
            bar.update()
        return dataset
    return _to_dataset(spec, arrays).validate()


def _to_dataset(spec: DatasetSpec, arrays: dict) -> Dataset:
    labels: dict[str, Any] = {f"{split}_labels": arrays.get(f"{split}_labels") for split in SPLITS}
    return Dataset(
        name=spec.name,
        kind=spec.kind,
        features=spec.features,
        **{split: arrays[split] for split in SPLITS},
        **labels,
        image_shape=spec.image_shape,
        logit_lambda=spec.logit_lambda,
        quantization_levels=spec.quantization_levels,
        num_classes=spec.num_classes,
        spec=spec,
    )
