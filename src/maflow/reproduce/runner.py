"""Runs a reproduction table's rows through maflow's own commands and writes the markdown table."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from maflow.errors import ConfigError, DataError
from maflow.reproduce.table import BUDGETS, Measured, Settings, Table, slug

__all__ = ["missing_data", "run_table", "format_table", "STOPPED"]

# Exit statuses of a command stopped by Ctrl-C or SIGTERM: the reproduction stops there too.
STOPPED = (130, 143)


def _data_root(data_dir: str | None) -> Path:
    return Path(data_dir or os.environ.get("MAFLOW_DATA") or "~/.cache/maflow").expanduser()


def missing_data(datasets, data_dir: str | None) -> dict[str, str]:
    """``{data set: what to get and where}`` for each data set whose files are not in ``data_dir``.

    A data set is present when every file of one of its accepted layouts is in its folder.

    Example:
        >>> missing_data(["digits"], "/nonexistent")   # bundled with scikit-learn: nothing to get
        {}
    """
    return {
        name: f"{files} (from {source})" for name, (files, source) in _missing(datasets, data_dir).items()
    }


def _missing(datasets, data_dir: str | None) -> dict[str, tuple[str, str]]:
    """``{data set: (the files its folder needs, where to get them)}`` for the absent data sets."""
    from maflow.data.files import find_file
    from maflow.data.registry import DATASETS

    root = _data_root(data_dir)
    missing = {}
    for name in datasets:
        spec = DATASETS[name]
        if spec.folder is None:  # generated or bundled with a dependency
            continue
        folders = [root / spec.folder, *(Path(f) for f in spec.system_folders)]
        if any(all(find_file(f, n) for n in layout.files) for f in folders for layout in spec.layouts):
            continue
        layouts = " or ".join("+".join(layout.files) for layout in spec.layouts)
        source = spec.downloads[0].url if spec.downloads else spec.source
        missing[name] = (f"{root / spec.folder}/{{{layouts}}}", source)
    return missing


def _what_to_get(missing: dict[str, tuple[str, str]]) -> str:
    """One instruction per download (the MAF sets share one archive), then each folder's files."""
    sources: dict[str, list[str]] = {}
    for name, (_, source) in missing.items():
        sources.setdefault(source, []).append(name)
    gets = "; ".join(f"get {source} for {', '.join(names)}" for source, names in sources.items())
    folders = "; ".join(files for files, _ in missing.values())
    them = "it" if len(sources) == 1 else "them"
    return f"{gets}, and unpack {them} so that the folders hold {folders} (or pass --data-dir)"


def _commit() -> str:
    try:
        result = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "src"],
            cwd=Path(__file__).resolve().parents[3],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    commit = result.stdout.strip() or "unknown (not a git checkout)"
    return commit + (" (with uncommitted changes under src/)" if dirty.stdout.strip() else "")


def _device_name(device: str) -> str:
    from maflow.run.device import resolve_device

    resolved = resolve_device(device)
    if resolved.type == "cuda":
        import torch

        return f"{resolved} ({torch.cuda.get_device_name(resolved)})"
    return f"{resolved} ({platform.processor() or platform.machine()}, {os.cpu_count()} logical cores)"


def _command_text(argvs: list[list[str]]) -> str:
    return " && ".join("maflow " + " ".join(argv) for argv in argvs)


def run_table(
    table: Table,
    budget: str,
    out: str | Path,
    device: str = "auto",
    data_dir: str | None = None,
    rows: list[str] | None = None,
    log=print,
    *,
    run_command: Callable[[list[str]], int],
) -> tuple[Path, int]:
    """Runs the rows of ``table`` at ``budget`` under ``out`` and writes ``out/<name>-<budget>.md``.

    Each row runs its commands in this process through ``run_command`` (``maflow.cli.main``,
    given by the command line, so that this layer does not import it) in ``out/<row>/``; the
    table is rewritten after every row, so a stopped reproduction keeps the rows it finished.
    Rows whose data set is absent say which files to get; when no row has its data, nothing runs
    and a :class:`DataError` names the files. ``rows`` keeps the rows whose label contains one
    of the given words (case-insensitive). Returns the table's path and the exit status (0, or
    that of the command that was stopped).
    """
    if budget not in BUDGETS:
        raise ConfigError(f"unknown budget {budget!r}: use {' or '.join(BUDGETS)}")
    selected = [r for r in table.rows if not rows or any(w.lower() in r.label.lower() for w in rows)]
    if not selected:
        raise ConfigError(f"no row of {table.name} matches {rows}: see `maflow reproduce --list`")
    absent = _missing(sorted({r.dataset for r in selected if r.dataset}), data_dir)
    if absent and all(r.dataset in absent for r in selected):
        raise DataError(f"{table.name} needs data that is not here: {_what_to_get(absent)}")
    out = Path(out)
    header = {
        "budget": budget,
        "budget_text": table.budgets[budget],
        "device": _device_name(device),
        "commit": _commit(),
        "started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    path = out / f"{table.name}-{budget}.md"
    results: list[tuple] = []
    status = 0
    for row in selected:
        folder = out / slug(row.label)
        settings = Settings(budget, device, data_dir, folder)
        argvs = row.commands(settings)
        if row.dataset in absent:
            files, source = absent[row.dataset]
            results.append((row, None, f"not run: get {files} (from {source})", argvs, None))
            continue
        log(f"[{table.name}] {row.label}: {_command_text(argvs)}")
        started = time.perf_counter()
        failed = None
        for argv in argvs:
            code = run_command(argv)
            if code in STOPPED:  # Ctrl-C or SIGTERM (a time budget): stop the reproduction here
                failed = f"stopped: `maflow {argv[0]}` was interrupted (exit {code}) before it finished"
                status = code
                break
            if code:
                failed = f"failed: `maflow {argv[0]}` exited with {code}"
                break
        seconds = time.perf_counter() - started
        measured = None
        if failed is None:
            try:
                measured = row.read(folder)
            except DataError as error:
                failed = f"failed: {error}"
        results.append((row, measured, failed, argvs, seconds))
        _write(path, format_table(table, header, results))
        if status in STOPPED:
            break
    _write(path, format_table(table, header, results))
    log(f"[{table.name}] table written to {path}")
    return path, status


def _write(path: Path, text: str) -> None:
    from maflow.utils.io import atomic_write_text, ensure_writable_dir

    ensure_writable_dir(path.parent)
    atomic_write_text(path, text)


def format_table(table: Table, header: dict, results: list[tuple]) -> str:
    """The markdown of a (partly) run table: published, maflow ± 2 SE, command, commit, device, time."""
    lines = [
        f"# `maflow reproduce {table.name}`: {table.title}",
        "",
        f"{table.metric}. Budget **{header['budget']}**: {header['budget_text']}",
        "",
        f"Device: {header['device']}. Commit: {header['commit']}. Started {header['started']}.",
        "",
        "| Model | Published | Source | Verified | maflow (± 2 SE) | Time | Command |",
        "|---|---|---|---|---|---|---|",
    ]
    for row, measured, failed, argvs, seconds in results:
        value = failed or _measured_text(measured, table.digits)
        spent = "–" if seconds is None else f"{seconds / 60:.1f} min"
        published = row.published
        cells = [row.label, published.text(), published.source, published.verification(), value, spent]
        cells.append(f"`{_command_text(argvs)}`")
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    if table.notes:
        lines += ["", *[f"- {note}" for note in table.notes]]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    """A table cell: a ``|`` in the text (``p(x|y)``) would end the cell, so it is escaped."""
    return text.replace("|", "\\|")


def _measured_text(measured: Measured | None, digits: int) -> str:
    if measured is None:
        return "–"
    return measured.text(digits) + (f" ({measured.note})" if measured.note else "")
