"""Cache of prepared splits: ``.npy`` files plus a version stamp, written atomically."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

from maflow.data.source import Source

__all__ = ["cache_root", "cache_stamp", "cache_dir", "read_cache", "write_cache"]

CACHE_FORMAT = 1
_STALE_SECONDS = 3600.0


def cache_root(data_dir: Path) -> Path:
    """``$MAFLOW_CACHE`` if set, else ``<data_dir>/prepared`` when writable, else ``~/.cache/maflow/prepared``."""
    if os.environ.get("MAFLOW_CACHE"):
        return Path(os.environ["MAFLOW_CACHE"]).expanduser()
    data_dir = Path(data_dir)
    if data_dir.is_dir() and os.access(data_dir, os.W_OK):
        return data_dir / "prepared"
    return Path("~/.cache/maflow/prepared").expanduser()


def cache_stamp(source: Source) -> dict:
    """What the prepared arrays depend on; any change gives a new cache entry."""
    files = []
    for name in sorted(source.paths):
        stat = source.paths[name].stat()
        files.append([str(source.paths[name].resolve()), stat.st_size, stat.st_mtime_ns])
    return {
        "format": CACHE_FORMAT,
        "dataset": source.spec.name,
        "version": source.spec.version,
        "layout": source.layout.name if source.layout else None,
        "params": repr(sorted(source.spec.params.items())),
        "files": files,
    }


def cache_dir(root: Path, stamp: dict) -> Path:
    key = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:16]
    return Path(root) / stamp["dataset"] / f"v{stamp['version']}-{key}"


def read_cache(directory: Path, stamp: dict) -> dict | None:
    """The cached arrays if ``directory`` holds a complete entry with exactly this stamp, else None."""
    meta_path = directory / "meta.json"
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("stamp") != json.loads(json.dumps(stamp)):
            return None
        return {name: np.load(directory / f"{name}.npy", allow_pickle=False) for name in meta["arrays"]}
    except (OSError, ValueError, KeyError):
        return None  # absent, or damaged by hand: prepare again


def write_cache(directory: Path, arrays: dict, stamp: dict) -> None:
    """Writes the entry into a temporary folder and renames it into place: a reader sees a complete
    entry or none, also after an interruption. Failing to write only warns (the data is in memory)."""
    parent = directory.parent
    tmp = None
    try:
        parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(parent)
        tmp = Path(tempfile.mkdtemp(dir=parent, prefix=".tmp-"))
        for name, array in arrays.items():
            with open(tmp / f"{name}.npy", "wb") as file:
                np.save(file, array, allow_pickle=False)
                file.flush()
                os.fsync(file.fileno())
        meta = {"stamp": stamp, "arrays": sorted(arrays), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        if directory.exists():  # a stale or concurrent entry: replace it
            shutil.rmtree(directory, ignore_errors=True)
        os.replace(tmp, directory)
        tmp = None
    except OSError as error:
        warnings.warn(f"could not cache prepared {stamp['dataset']} in {parent}: {error}", stacklevel=3)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _remove_stale(parent: Path) -> None:
    # Temporary folders of processes killed without a chance to clean up.
    for entry in parent.glob(".tmp-*"):
        try:
            if time.time() - entry.stat().st_mtime > _STALE_SECONDS:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass
