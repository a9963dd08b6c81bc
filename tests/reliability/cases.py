"""Shared pieces of the table-driven reliability tests: run a command, check its one-line refusal."""

from __future__ import annotations

import torch

from maflow.cli import main
from maflow.data import load
from maflow.models.registry import build_model
from maflow.run.checkpoint import data_fingerprint, make_checkpoint, save_training_checkpoint
from maflow.run.paths import RunPaths

MAF_OPTIONS = {"num_layers": 2, "hidden_features": 8, "num_hidden_layers": 1}
TINY = ["--num-layers", "1", "--hidden-dim", "4", "--hidden-layers", "1", "--no-progress", "--epochs", "1"]


def run(argv) -> int:
    """``maflow ARGV``'s exit status, argparse's own exits included."""
    try:
        return main([str(a) for a in argv])
    except SystemExit as exit:
        return int(exit.code or 0)


def assert_one_line_refusal(code: int, err: str, *words: str) -> None:
    """Exit status 2, no traceback, and one error line (after argparse's usage, if any) holding ``words``."""
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines and "error:" in lines[-1], err
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), err
    for word in words:
        assert word in lines[-1], err


def digits_checkpoint(out, **changes) -> RunPaths:
    """An untrained digits MAF as the run ``out`` (best.pth and latest.pth), altered by ``changes``.

    ``changes`` are applied with :func:`apply_change`: ``key=value`` sets a checkpoint entry,
    ``model_config__key=value`` an entry of the model's config.
    """
    data = load("digits")
    torch.manual_seed(0)
    model = build_model("maf", data.features, None, **MAF_OPTIONS)
    config = {"features": data.features, "context_features": None, **MAF_OPTIONS}
    checkpoint = make_checkpoint(
        model, "maf", config, "digits", data_fingerprint(data.train), epoch=1, step=1
    )
    for key, value in changes.items():
        apply_change(checkpoint, key, value)
    paths = RunPaths(out, "digits")
    save_training_checkpoint(paths.best, checkpoint)
    save_training_checkpoint(paths.latest, checkpoint)
    return paths


def apply_change(checkpoint: dict, key: str, value) -> None:
    section, _, name = key.partition("__")
    target = checkpoint[section] if name else checkpoint
    name = name or section
    if value is _DROP:
        target.pop(name, None)
    elif callable(value):
        target[name] = value(target[name])
    else:
        target[name] = value


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


_DROP = _Drop()
DROP = _DROP
