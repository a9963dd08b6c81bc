"""The ``evaluation`` section of a run whose training wrote a flat ``results.json`` (MNF, toy).

Those trainers write their summary as one flat dict and ``results.txt`` under one title (the
model's name, ``toy flow``); an evaluation adds its section to ``results.json`` and rewrites
``results.txt`` with the training's part under that title, so the page stays as it was, plus
the evaluation. A new training replaces both files, evaluation included (new weights).
"""

from __future__ import annotations

import json
from pathlib import Path

from maflow.run.results import format_results
from maflow.utils.io import atomic_write_text, write_json

__all__ = ["record_evaluation"]


def record_evaluation(folder, title: str, evaluation: dict) -> dict:
    """Puts ``evaluation`` into ``folder/results.json`` (replacing an earlier one) and rewrites
    ``folder/results.txt``; returns the whole summary.

    Arguments:
        folder: the run folder (locked by the caller).
        title: the heading of the training's part in ``results.txt``.
        evaluation: the new ``evaluation`` section.

    Example:
        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as d:
        ...     _ = (Path(d) / "results.json").write_text('{"model": "lenet", "epochs": 2}')
        ...     results = record_evaluation(d, "lenet", {"error_percent": 1.5})
        ...     text = (Path(d) / "results.txt").read_text()
        >>> sorted(results), "[lenet]" in text, "  error_percent: 1.5" in text
        (['epochs', 'evaluation', 'model'], True, True)
    """
    folder = Path(folder)
    path = folder / "results.json"
    training: dict = {}
    if path.is_file():
        try:
            training = json.loads(path.read_text())
        except (OSError, ValueError):
            training = {}  # an unreadable summary is replaced, never half-merged
    if not isinstance(training, dict):
        training = {}
    training.pop("evaluation", None)
    write_json(path, {**training, "evaluation": evaluation})
    sections = {title: training} if training else {}
    atomic_write_text(folder / "results.txt", format_results({**sections, "evaluation": evaluation}))
    return {**training, "evaluation": evaluation}
