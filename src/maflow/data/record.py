"""A run's record of its own data: checked when a checkpoint is read, and used to rebuild the splits.

A checkpoint of ``maflow train --data`` holds ``dataset.origin`` under ``"data"``: the file, the
options, the standardisation and a SHA-256 of every value. :func:`check_record` checks it before
anything uses it (a checkpoint is untrusted input); :func:`load_recorded` reads the file again and
rebuilds exactly the splits the run was trained on, refusing changed data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from maflow.data.array_files import read_table
from maflow.data.arrays import DataOptions, load_data_file, table_fingerprint
from maflow.data.dataset import Dataset
from maflow.errors import DataError

__all__ = ["load_recorded", "check_record"]


def load_recorded(record: dict, data: str | os.PathLike | None = None, context=None) -> Dataset:
    """Rebuilds the data set a run was trained on from the checkpoint's ``data`` record.

    ``data`` (and ``context``) point at the files when they moved; every value is checked
    against the recorded SHA-256, so changed data is refused rather than evaluated.
    """
    if record.get("source") != "file":
        raise DataError(
            "this run was trained on arrays passed to maflow.data.from_numpy, which it cannot reload: "
            "evaluate it from Python, or train from a file with --data"
        )
    path = Path(data) if data is not None else Path(record["path"])
    if data is None and not path.is_file():
        raise DataError(
            f"{path}, the file this run was trained on, is not there: pass --data PATH where it is now"
        )
    options = DataOptions(**record["options"])
    table = read_table(path, options.columns)
    if table_fingerprint(table) != record["fingerprint"]:
        raise DataError(
            f"{path} is not the data this run was trained on (its values differ from "
            f"{record['path']}'s SHA-256): pass --data with the original file"
        )
    recorded_context = record.get("context")
    context_path = None
    if recorded_context is not None:
        context_path = Path(context) if context is not None else Path(recorded_context["path"])
        if context is None and not context_path.is_file():
            raise DataError(
                f"{context_path}, the context this run was trained with, is not there: pass --context PATH "
                "where it is now"
            )
    kind = recorded_context["kind"] if recorded_context else None
    dataset = load_data_file(
        path,
        options,
        name=record.get("name"),
        context=context_path if kind == "continuous" else None,
        labels=context_path if kind == "labels" else None,
    )
    rebuilt = (dataset.origin or {}).get("context", {})
    if recorded_context is not None and rebuilt.get("fingerprint") != recorded_context["fingerprint"]:
        raise DataError(
            f"{context_path} is not the context this run was trained on: pass --context (or --labels) "
            "with the original file"
        )
    return dataset


def check_record(record, features: int, path) -> dict:
    """Checks a checkpoint's data record before anything uses it (a checkpoint is untrusted input).

    Raises :class:`~maflow.errors.CheckpointError` naming the first malformed entry.

    Example:
        >>> scaling = {"mean": [0.0], "scale": [2.0]}
        >>> check_record({"source": "arrays", "options": {}, "standardization": scaling}, 1, "best.pth")["source"]
        'arrays'
    """
    from maflow.errors import CheckpointError

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: its data record has {what}; the checkpoint is corrupt or was edited")

    if not isinstance(record, dict) or record.get("source") not in ("file", "arrays"):
        raise bad("no valid source")
    if not isinstance(record.get("options"), dict) or not set(record["options"]) <= set(
        DataOptions.__annotations__
    ):
        raise bad("unknown options")
    scaling = record.get("standardization")
    if not isinstance(scaling, dict):
        raise bad("no standardisation")
    for key in ("mean", "scale"):
        values = scaling.get(key)
        if (
            not isinstance(values, list)
            or len(values) != features
            or not all(isinstance(v, float) for v in values)
        ):
            raise bad(f"a standardisation {key} that is not {features} numbers")
    if not all(np.isfinite(scaling["mean"])) or not all(v > 0 and np.isfinite(v) for v in scaling["scale"]):
        raise bad("a standardisation with non-finite values or a scale that is not positive")
    context = record.get("context")
    if context is not None:
        kind = context.get("kind") if isinstance(context, dict) else None
        if kind == "labels":
            classes = context.get("classes")
            if (
                not isinstance(classes, list)
                or len(classes) < 2
                or not all(isinstance(c, int) for c in classes)
            ):
                raise bad("class labels that are not a list of whole numbers")
        elif kind == "continuous":
            inner = context.get("standardization")
            if not isinstance(inner, dict) or not isinstance(inner.get("mean"), list):
                raise bad("a context without its standardisation")
            if not all(v > 0 for v in inner.get("scale", [])) or len(inner.get("scale", [])) != len(
                inner["mean"]
            ):
                raise bad("a context standardisation with a scale that is not positive")
        else:
            raise bad("a context of unknown kind")
    if record["source"] == "file" and not isinstance(record.get("path"), str):
        raise bad("no file path")
    return record
