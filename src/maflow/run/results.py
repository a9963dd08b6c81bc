"""``results.json`` (machine-readable) and ``results.txt`` (for people), written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from maflow.utils.io import atomic_write_text, write_json

__all__ = ["update_results", "format_results"]


def update_results(json_path: str | Path, txt_path: str | Path, section: str, values: dict) -> dict:
    """Replaces ``section`` of the JSON summary (keeping the others) and rewrites both files.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = update_results(Path(d) / "r.json", Path(d) / "r.txt", "training", {"epochs": 2})
        ...     sorted(update_results(Path(d) / "r.json", Path(d) / "r.txt", "evaluation", {}))
        ['evaluation', 'training']
    """
    json_path = Path(json_path)
    results = {}
    if json_path.is_file():
        try:
            results = json.loads(json_path.read_text())
        except (OSError, ValueError):
            results = {}  # an unreadable summary is regenerated, never half-merged
    results[section] = values
    write_json(json_path, results)
    atomic_write_text(txt_path, format_results(results))
    return results


def _pm(summary: dict, digits: int = 2) -> str:
    return f"{_number(summary['mean'], digits)} ± {_number(summary['error_2se'], digits)}"


def _number(value: float | None, digits: int) -> str:
    # results.json stores a value that is not a finite number as null (utils.io.write_json)
    return "n/a" if value is None else f"{value:.{digits}f}"


def _headline(evaluation: dict) -> list[str]:
    lines = []
    # A --data run's evaluation says its densities are in the data's own units, of p(x) or p(x | c).
    own_data = "density" in evaluation
    space = str(evaluation.get("space", "")).replace(" nats", "") if own_data else "model space"
    density = evaluation["density"] if own_data else "log-likelihood"
    for split in ("test", "val"):
        report = evaluation.get(split)
        if not report:
            continue
        ll = report["log_likelihood"]
        lines.append(
            f"{split} average {density}, {space} (nats, ± 2 SE): {_pm(ll)}"
            f"   [median {_number(ll['median'], 2)}, {ll['trim_fraction']:.0%}-trimmed mean "
            f"{_number(ll['trimmed_mean'], 2)}, "
            f"{ll['num_outliers']} extreme points, N = {ll['count']}]"
        )
        if "bits_per_dim_pixel_space" in report:
            lines.append(
                f"{split} pixel-space log-likelihood (nats): {_pm(report['log_likelihood_pixel_space'])}"
            )
            lines.append(
                f"{split} bits/dim, pixel space (MAF convention, -log p(x)/(D ln 2) + log2 levels): "
                f"{_pm(report['bits_per_dim_pixel_space'], 3)}"
            )
        if "bits_per_dim_model_space" in report:
            lines.append(
                f"{split} bits/dim, model space (NLL/(D ln 2), no Jacobian): "
                f"{_pm(report['bits_per_dim_model_space'], 3)}"
            )
    return lines


def _flatten(values, prefix: str = "") -> list[str]:
    lines = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            lines += _flatten(value, f"{name}.")
        else:
            lines.append(f"  {name}: {value}")
    return lines


def format_results(results: dict) -> str:
    """The human-readable summary: headline numbers first, then every stored value."""
    lines = ["maflow results summary", ""]
    if "evaluation" in results:
        lines += _headline(results["evaluation"]) + [""]
    for section, values in results.items():
        lines.append(f"[{section}]")
        lines += _flatten(values) if isinstance(values, dict) else [f"  {values}"]
        lines.append("")
    return "\n".join(lines)
