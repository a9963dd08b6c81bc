"""Data set specifications: dimensions, split sizes, expected files, sources, checksums, licence."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Download", "Layout", "DatasetSpec"]


@dataclass(frozen=True)
class Download:
    """One public file that ``maflow data fetch`` can download.

    Arguments:
        url: where the file is published.
        filename: the name it is saved under, inside the data set's folder.
        known_hash: ``"md5:..."`` or ``"sha256:..."`` of the downloaded bytes, or None when no
            published checksum is known (the download is then unverified and says so).
        extract: for archives, ``{member suffix: file name in the folder}`` to extract; empty to keep
            the file as downloaded.
    """

    url: str
    filename: str
    known_hash: str | None = None
    extract: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Layout:
    """One accepted arrangement of files inside a data set's folder.

    Arguments:
        name: short label (``"idx"``, ``"presplit"``, ``"maf"``, ...), recorded in the cache stamp.
        files: file names relative to the folder; a name ending in ``.gz`` also matches the
            un-gzipped file and vice versa.
        trusted_only: the layout holds a pickle; it is only used with ``allow_pickle=True``.
        preprocessed: the files already hold the final splits (no preprocessing is applied).
    """

    name: str
    files: tuple[str, ...]
    trusted_only: bool = False
    preprocessed: bool = False


@dataclass(frozen=True)
class DatasetSpec:
    """Everything known about one data set before its files are read.

    Arguments:
        name: registry name, as given to ``load`` and ``--dataset``.
        kind: ``"image"``, ``"tabular"``, ``"binary"`` or ``"toy"``.
        features: dimension D of one (flattened) data point, as used for training.
        split_sizes: (train, val, test) sizes with the canonical files, or None when they vary.
        folder: sub-folder of the data directory, or None for embedded/generated data.
        layouts: accepted file arrangements, tried in order.
        prepare: ``prepare(source, **params) -> dict`` of arrays (keys ``train``, ``val``, ``test``,
            optionally ``train_labels`` ...), given a ``maflow.data.source.Source``.
        image_shape: (C, H, W) of image data sets.
        logit_lambda: the lambda of ``logit(lambda + (1 - 2 lambda) x)``, or None without logit.
        quantization_levels: number of pixel levels (256 for 8-bit images), for bits/pixel.
        num_classes: number of label classes, or None without labels.
        checksums: ``{file name: sha256 of the decompressed bytes}`` of the canonical files.
        downloads: public files for ``maflow data fetch``.
        source, licence, preprocessing, notes: documentation strings (also shown by ``data list``).
        system_folders: absolute folders searched after the data directory (e.g. a Debian package's).
        params: keyword arguments of ``prepare`` (split rule constants, seeds).
        version: preprocessing version; bumping it invalidates cached prepared splits.
        cache: whether prepared splits are cached as ``.npy`` (off when reading is as cheap).
    """

    name: str
    kind: str
    features: int
    split_sizes: tuple[int, int, int] | None
    folder: str | None
    layouts: tuple[Layout, ...]
    prepare: Callable[..., dict]
    image_shape: tuple[int, int, int] | None = None
    logit_lambda: float | None = None
    quantization_levels: int | None = None
    num_classes: int | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    downloads: tuple[Download, ...] = ()
    source: str = ""
    licence: str = ""
    preprocessing: str = ""
    notes: str = ""
    system_folders: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)
    version: int = 1
    cache: bool = True

    @property
    def embedded(self) -> bool:
        """True when no file is needed (generated or bundled with a dependency)."""
        return self.folder is None
