"""Log-densities of rows in the data's own units: the splits of a run, and any file (``maflow score``).

A run trained on one's own data (``maflow train --data``) holds, in its checkpoint, the
standardisation of its training split; a row's log-density is the model's log-density of the
standardised row plus ``log_abs_det = -sum(log scale)``, so that it is a density of the row as
given. Rows are read, standardised and scored batch by batch (a memory-mapped ``.npy`` or a
text file is never loaded whole) and written as they come (``.npy`` or ``.csv``), atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from maflow.data.array_files import Table, parse_columns, read_table
from maflow.data.arrays import check_rows, dequantize_rows
from maflow.data.context import encode_context
from maflow.data.record import check_record
from maflow.data.standardize import Standardization
from maflow.errors import CheckpointError, ConfigError, DataError
from maflow.run.checkpoint import load_training_checkpoint, rebuild_model
from maflow.run.locate import locate_run
from maflow.run.paths import RunPaths
from maflow.run.progress import progress_bar
from maflow.utils.io import atomic_write

__all__ = ["run_paths", "load_run", "log_densities", "score_file", "check_output", "OUTPUT_SUFFIXES"]

OUTPUT_SUFFIXES = (".npy", ".csv", ".tsv", ".txt")
DTYPES = {"float64": torch.float64, "float32": torch.float32}


def run_paths(run: str | os.PathLike) -> RunPaths:
    """The :class:`RunPaths` of a run folder given by its path (the ``--out`` of its training).

    A run of the old layout (``OUT/<name>/``) is found from ``OUT`` as well
    (:func:`maflow.run.locate.locate_run`).
    """
    return locate_run(run)


def load_run(run: str | os.PathLike, which: str = "best", device=None):
    """The model of a run folder's ``best.pth`` (or ``latest.pth``) in evaluation mode, its
    checkpoint, and the checkpoint's data record (None for a registered data set's run)."""
    paths = run_paths(run)
    if not paths.root.is_dir():
        raise CheckpointError(
            f"{paths.root} is not a run folder: give --run RUN, the --out of a maflow train run"
        )
    path = paths.best if which == "best" else paths.latest
    checkpoint = load_training_checkpoint(path)
    record = checkpoint.get("data")
    if record is not None:
        record = check_record(record, _features(checkpoint, path), path)
    model = rebuild_model(checkpoint, path).to(device).eval()
    return model, checkpoint, record


def check_output(output: Path, overwrite: bool, inputs=()) -> None:
    """Refuses to write over an input file, or over an existing file without ``overwrite``."""
    for given in inputs:
        if Path(given).expanduser().resolve() == output.resolve():
            raise ConfigError(f"--output {output} is one of the input files: choose another output path")
    if output.exists() and not overwrite:
        raise ConfigError(f"--output {output} exists: pass --overwrite to replace it, or choose another path")


def _features(checkpoint: dict, path) -> int:
    features = checkpoint.get("model_config", {}).get("features") if isinstance(checkpoint, dict) else None
    if not isinstance(features, int) or isinstance(features, bool) or features < 1:
        raise CheckpointError(f"{path} names no valid number of features; the checkpoint is corrupt")
    return features


def _batches(table: Table, key: str, batch_size: int) -> Iterator[np.ndarray]:
    rows = table.arrays[key]
    for start in range(0, len(rows), batch_size):
        yield np.asarray(rows[start : start + batch_size], np.float64)


@torch.no_grad()
def log_densities(
    model,
    record: dict | None,
    table: Table,
    context: Table | None = None,
    batch_size: int = 10_000,
    dtype: torch.dtype = torch.float64,
    seed: int = 0,
    progress: bool | None = False,
    key: str = "all",
) -> Iterator[np.ndarray]:
    """Yields the log-density (nats, the data's units) of each row of ``table.arrays[key]``, batch by batch.

    ``record``: the run's data record (standardisation, dequantisation, context encoding), or
    None for a registered data set's run (rows in its preprocessed space). ``context``: one raw
    context row (or class label) per row, for a conditional run.

    Example:
        >>> from maflow import MAF
        >>> record = {"standardization": {"mean": [0.0], "scale": [10.0]}, "options": {}}
        >>> model = MAF(1, num_layers=1, hidden_features=4, batch_norm=False).eval()
        >>> rows = Table(Path("x"), {"all": np.zeros((3, 1))}, None)
        >>> model_space = model.log_prob(torch.zeros(1, 1)).item()
        >>> values = np.concatenate(list(log_densities(model, record, rows, batch_size=2)))
        >>> np.allclose(values, model_space - np.log(10.0))
        True
    """
    parameter = next(model.parameters())
    model = model.to(dtype)
    record = record or {}
    scaling = Standardization.from_record(record["standardization"]) if "standardization" in record else None
    offset = 0.0 if scaling is None else scaling.log_abs_det
    dequantize = record.get("options", {}).get("dequantize", False)
    rng = np.random.default_rng([seed, 2])
    contexts = _batches(context, key, batch_size) if context is not None else None
    total = len(table.arrays[key])
    with progress_bar(total, "log-density", progress, unit="rows") as bar:
        for rows in _batches(table, key, batch_size):
            if dequantize:
                rows = dequantize_rows(rows, rng, table.path)
            z = torch.as_tensor(scaling.apply(rows) if scaling is not None else rows)
            given = None
            if contexts is not None:
                raw = next(contexts)
                encoded = encode_context(record["context"], raw, str(context.path) if context else "context")
                given = torch.as_tensor(encoded).to(parameter.device, dtype)
            values = model.log_prob(z.to(parameter.device, dtype), given).double().cpu().numpy()
            bar.update(len(rows))
            yield values + offset


def _recorded_columns(record: dict | None) -> list[str] | None:
    """The columns a run was trained on: as chosen with --columns, else the file's header."""
    if record is None:
        return None
    options = record.get("options", {})
    return record.get("columns") if options.get("columns") is None else options["columns"]


def _read_rows(
    path, columns: str | None, recorded: list[str] | None, features: int, flag: str = "--data"
) -> Table:
    """The rows to score: ``columns`` if given, else the recorded ones when the file names them."""
    if columns is not None:
        table = read_table(path, parse_columns(columns), stream=True)
    else:
        try:
            table = read_table(path, recorded, stream=True)
        except DataError as error:
            if recorded is None or "has no column" not in str(error):
                raise
            table = read_table(path, None, stream=True)  # no header with those names: the columns in order
    if table.has_splits:
        raise DataError(f"{path} holds train/val/test splits: score one array (or each split's own file)")
    if table.features != features:
        which = "--columns" if flag == "--data" else "--context-columns"
        raise DataError(
            f"{path} has rows of {table.features} values, but the run takes {features}; choose them with {which}"
        )
    check_rows(table)
    return table


def _context_table(record, context_path, labels_path, context_columns, rows: int) -> Table | None:
    kind = (record or {}).get("context", {}).get("kind")
    given = context_path if context_path is not None else labels_path
    if kind is None:
        if given is not None:
            raise ConfigError("this run's model takes no context: drop --context and --labels")
        return None
    flag = "--context" if kind == "continuous" else "--labels"
    if given is None or (kind == "continuous") != (context_path is not None):
        raise ConfigError(f"this run's model is conditional: give {flag} PATH, one row per data row")
    width = len(record["context"]["standardization"]["mean"]) if kind == "continuous" else 1
    table = _read_rows(given, context_columns, record["context"].get("names"), width, flag)
    if len(table.arrays["all"]) != rows:
        raise DataError(
            f"{given} has {len(table.arrays['all'])} rows for {rows} data rows: give one per data row"
        )
    return table


def _npy_writer(chunks: Iterator[np.ndarray], rows: int):
    def write(file):
        header = {"descr": "<f8", "fortran_order": False, "shape": (rows,)}
        np.lib.format.write_array_header_1_0(file, header)
        for values in chunks:
            file.write(np.ascontiguousarray(values, dtype="<f8").tobytes())

    return write


def _text_writer(chunks: Iterator[np.ndarray]):
    def write(file):
        file.write(b"log_density\n")
        for values in chunks:
            buffer = io.StringIO()
            np.savetxt(buffer, values, fmt="%.10g")
            file.write(buffer.getvalue().encode())

    return write


def score_file(
    run: str | os.PathLike,
    data: str | os.PathLike,
    output: str | os.PathLike,
    context: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    columns: str | None = None,
    context_columns: str | None = None,
    batch_size: int = 10_000,
    precision: str = "float64",
    which: str = "best",
    device=None,
    seed: int = 0,
    progress: bool | None = None,
    overwrite: bool = False,
) -> dict:
    """Writes one log-density per row of ``data`` (nats, the data's units) to ``output`` (.npy or .csv).

    Returns the number of rows, their mean log-density and the output path. An existing
    ``output`` is replaced only with ``overwrite``, and never when it is one of the inputs.
    """
    output = Path(output).expanduser()
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--output {output}: write .npy or .csv (or .tsv, .txt)")
    check_output(output, overwrite, [p for p in (data, context, labels) if p is not None])
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {batch_size}")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    model, checkpoint, record = load_run(run, which, device)
    table = _read_rows(data, columns, _recorded_columns(record), checkpoint["model_config"]["features"])
    rows = len(table.arrays["all"])
    context_table = _context_table(record, context, labels, context_columns, rows)
    total = [0.0, 0]

    def counted() -> Iterator[np.ndarray]:
        chunks = log_densities(
            model, record, table, context_table, batch_size, DTYPES[precision], seed=seed, progress=progress
        )
        for values in chunks:
            finite = values[np.isfinite(values)]
            total[0], total[1] = total[0] + float(finite.sum()), total[1] + len(finite)
            yield values

    suffix = output.suffix.lower()
    writer = _npy_writer(counted(), rows) if suffix == ".npy" else _text_writer(counted())
    atomic_write(output, writer)
    mean = total[0] / total[1] if total[1] else float("nan")
    return {"rows": rows, "finite": total[1], "mean_log_density": mean, "output": str(output)}
