"""Full or unwritable output directories: a clear error before any work, and never a partial file."""

import errno
import json
import os
import tempfile

import pytest
import torch

import maflow.utils.io
from maflow.cli import main
from maflow.data import load
from maflow.errors import StorageError
from maflow.models.registry import build_model
from maflow.train.checkpoint import data_fingerprint, make_checkpoint, save_training_checkpoint
from maflow.train.paths import RunPaths
from maflow.utils.io import atomic_write_text, ensure_writable_dir, save_checkpoint

TINY = ["--num-layers", "1", "--hidden-dim", "4", "--hidden-layers", "1", "--no-progress", "--epochs", "1"]


class _Proxy:
    """A module whose named functions raise ``OSError(number)``; everything else is the real one."""

    def __init__(self, module, number, *names):
        self._module, self._number, self._names = module, number, names

    def __getattr__(self, name):
        if name in self._names:

            def fail(*args, **kwargs):
                raise OSError(self._number, os.strerror(self._number))

            return fail
        return getattr(self._module, name)


def _disk_full(monkeypatch, *names):
    monkeypatch.setattr(maflow.utils.io, "os", _Proxy(os, errno.ENOSPC, *names))


def _hidden_files(directory):
    return [p.name for p in directory.rglob(".*")]


def test_full_disk_is_found_by_the_write_test(tmp_path, monkeypatch):
    _disk_full(monkeypatch, "write")
    with pytest.raises(
        StorageError,
        match=r"No space left on device \(.* free there\); choose another --out or free some space",
    ):
        ensure_writable_dir(tmp_path / "out")
    assert _hidden_files(tmp_path) == []  # the probe file is gone


def test_unwritable_directory_is_found_by_the_write_test(tmp_path, monkeypatch):
    monkeypatch.setattr(maflow.utils.io, "tempfile", _Proxy(tempfile, errno.EACCES, "mkstemp"))
    with pytest.raises(StorageError, match="cannot write to .*Permission denied"):
        ensure_writable_dir(tmp_path)


@pytest.mark.parametrize("failing", ["write", "fsync"])
def test_a_write_that_fails_midway_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch, failing):
    target = tmp_path / "latest.pth"
    save_checkpoint(target, {"epoch": 1})
    before = target.read_bytes()
    _disk_full(monkeypatch, failing)
    with pytest.raises(StorageError) as error:
        if failing == "write":  # the buffered file object does not call os.write: fail its flush
            save_checkpoint(target, {"epoch": 2, "blob": _Unflushable()})
        else:
            save_checkpoint(target, {"epoch": 2})
    assert "cannot write" in str(error.value) and str(target) in str(error.value)
    assert isinstance(error.value, OSError) and error.value.errno in (errno.ENOSPC, None)
    assert target.read_bytes() == before and _hidden_files(tmp_path) == []


class _Unflushable:
    def __reduce__(self):
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command", ["train", "made train", "vae train"])
def test_training_on_a_full_disk_stops_before_it_starts(tmp_path, monkeypatch, capsys, command):
    _disk_full(monkeypatch, "write")
    argv = {
        "train": ["train", "--dataset", "digits", *TINY],
        "made train": ["made", "train", "--dataset", "dna"],
        "vae train": ["vae", "train"],
    }[command]
    assert main([*argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err and err.count("\n") == 1
    assert not [p for p in (tmp_path / "out").rglob("*") if p.is_file()]


def _untrained_digits_run(out):
    data = load("digits")
    options = {"num_layers": 1, "hidden_features": 4, "num_hidden_layers": 1}
    config = {"features": data.features, "context_features": None, **options}
    model = build_model("maf", data.features, None, **options)
    fingerprint = data_fingerprint(data.train)
    save_training_checkpoint(
        RunPaths(out, "digits").best, make_checkpoint(model, "maf", config, "digits", fingerprint, epoch=1)
    )
    atomic_write_text(RunPaths(out, "digits").results_json, json.dumps({"training": {"epochs_run": 1}}))


EVALUATE = ["evaluate", "--dataset", "digits", "--u-points", "0", "--num-samples", "0"]


def test_evaluation_on_a_full_disk_keeps_the_old_results(tmp_path, monkeypatch, capsys):
    _untrained_digits_run(tmp_path)
    results = RunPaths(tmp_path, "digits").results_json
    before = results.read_bytes()
    _disk_full(monkeypatch, "fsync")
    assert main([*EVALUATE, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "results.json: No space left on device" in err and err.count("\n") == 1
    assert results.read_bytes() == before and _hidden_files(tmp_path) == []


def test_evaluation_reports_robust_statistics_next_to_the_mean(tmp_path, capsys):
    _untrained_digits_run(tmp_path)
    torch.set_num_threads(1)
    assert main([*EVALUATE, "--out", str(tmp_path)]) == 0
    evaluation = json.loads(RunPaths(tmp_path, "digits").results_json.read_text())["evaluation"]
    for split in ("val", "test"):
        summary = evaluation[split]["log_likelihood"]
        assert {"mean", "error_2se", "median", "trimmed_mean", "num_outliers", "count"} <= set(summary)
        assert summary["count"] > 0 and summary["num_outliers"] >= 0
    assert "extreme points" in capsys.readouterr().out
