"""The located files of one data set, handed to its ``prepare`` function."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from maflow.data.files import check_sha256, read_bytes
from maflow.data.spec import DatasetSpec, Layout
from maflow.errors import DataError

__all__ = ["Source"]


@dataclass
class Source:
    """Where a data set's files were found and how to read them.

    Arguments:
        spec: the registry entry.
        folder: the folder searched (None for embedded data).
        layout: the layout whose files were all found.
        paths: ``{name in layout.files: actual path}`` (the actual file may be the gz twin).
        verify: check canonical checksums while reading.
        allow_pickle: the user trusts pickles in this folder.
    """

    spec: DatasetSpec
    folder: Path | None
    layout: Layout | None
    paths: dict[str, Path]
    verify: bool = True
    allow_pickle: bool = False

    @property
    def file_layout(self) -> Layout:
        """The layout of the files found (data read from files always have one)."""
        if self.layout is None:
            raise DataError(f"{self.spec.name} is embedded or generated data: it has no files")
        return self.layout

    def content(self, name: str) -> bytes:
        """The decompressed bytes of file ``name``, checksum-verified when a canonical one is known."""
        path = self.paths[name]
        content = read_bytes(path)
        if self.verify:
            expected = self.spec.checksums.get(name[:-3] if name.endswith(".gz") else name)
            check_sha256(path, content, expected, self.spec.name)
        return content

    def rng(self, seed: int = 42) -> np.random.RandomState:
        return np.random.RandomState(seed)
