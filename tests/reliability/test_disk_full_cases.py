"""The disk fills in the middle of a checkpoint or results write, for every family's writer.

The file system's ``OSError(ENOSPC)`` is raised inside ``torch.save``'s zip writer after a few
hundred bytes, which torch reports as ``RuntimeError: ... unexpected pos``: the command must
report a StorageError naming the file and the free space (one line, exit 2), and the last good
checkpoint must stay loadable.
"""

import errno
import os

import numpy as np
import pytest
import torch

import maflow.utils.io
from maflow.errors import StorageError
from maflow.run.checkpoint import save_training_checkpoint
from maflow.run.paths import RunPaths
from maflow.utils.io import load_checkpoint, save_checkpoint

from .cases import assert_one_line_refusal, run


class _FillingFile:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, file, room: int):
        self._file, self._room = file, room

    def write(self, data):
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)


class _TorchFillingUp:
    """``torch`` as maflow's writer sees it: the ``fail_from``-th ``torch.save`` onwards hits a full disk."""

    def __init__(self, fail_from: int, room: int = 300):
        self.calls, self.fail_from, self.room = 0, fail_from, room
        self.saved: list = []  # the epoch of every checkpoint written or tried

    def save(self, obj, file, *args, **kwargs):
        self.calls += 1
        self.saved.append(obj.get("progress", {}).get("epoch") if isinstance(obj, dict) else None)
        if self.calls >= self.fail_from:
            file = _FillingFile(file, self.room)
        return torch.save(obj, file, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(torch, name)


def _disk_fills_at(monkeypatch, fail_from: int, room: int = 300) -> _TorchFillingUp:
    filling = _TorchFillingUp(fail_from, room)
    monkeypatch.setattr(maflow.utils.io, "torch", filling)
    return filling


def test_the_zip_writers_unexpected_pos_becomes_a_storage_error_naming_file_and_free_space(
    tmp_path, monkeypatch
):
    target = tmp_path / "latest.pth"
    save_checkpoint(target, {"epoch": 1, "w": torch.zeros(10)})
    _disk_fills_at(monkeypatch, 1)
    with pytest.raises(StorageError) as caught:
        save_checkpoint(target, {"epoch": 2, "w": torch.zeros(10_000)})
    message = str(caught.value)
    assert str(target) in message and "No space left on device" in message and "free there" in message
    assert caught.value.errno == errno.ENOSPC
    assert load_checkpoint(target)["epoch"] == 1  # the last good one
    assert [p.name for p in tmp_path.iterdir()] == ["latest.pth"]  # no temporary left


@pytest.mark.parametrize("writer", ["save_checkpoint (VAE)", "save_training_checkpoint (flows, MADE, MNF)"])
def test_every_shared_checkpoint_writer_reports_a_full_disk(tmp_path, monkeypatch, writer):
    save = save_checkpoint if writer.startswith("save_checkpoint") else save_training_checkpoint
    target = tmp_path / "checkpoint.pt"
    save(target, {"epoch": 1})
    _disk_fills_at(monkeypatch, 1, room=0)
    with pytest.raises(StorageError, match="free there"):
        save(target, {"epoch": 2, "w": torch.zeros(100)})
    assert load_checkpoint(target)["epoch"] == 1


def test_flow_training_stops_in_one_line_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    # latest.pth at the start, then best.pth and latest.pth after epoch 1; the disk fills on the next write.
    filling = _disk_fills_at(monkeypatch, 4)
    out = tmp_path / "out"
    argv = ["train", "--dataset", "digits", "--num-layers", "1", "--hidden-dim", "8", "--no-progress"]
    code = run([*argv, "--epochs", "3", "--lr", "1e-2", "--out", out])
    assert_one_line_refusal(code, capsys.readouterr().err, "No space left on device", "free there", ".pth")
    paths = RunPaths(out, "digits")
    assert filling.saved == [0, 1, 1, 2], filling.saved  # the fourth write (epoch 2) failed
    assert load_checkpoint(paths.latest)["progress"]["epoch"] == 1
    assert load_checkpoint(paths.best)["progress"]["epoch"] == 1
    assert not [p for p in paths.checkpoints.iterdir() if p.name.endswith(".tmp")]


def test_binary_made_training_stops_in_one_line_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch, capsys
):
    from types import SimpleNamespace

    from maflow.cli import made as made_cli

    rng = np.random.RandomState(0)
    splits = {
        name: (rng.rand(n, 6) < 0.5).astype(np.float32)
        for name, n in (("train", 120), ("val", 40), ("test", 40))
    }
    dataset = SimpleNamespace(**splits, split=lambda name: splits[name])
    monkeypatch.setattr(made_cli, "_load_dataset", lambda name, data_dir: dataset)
    _disk_fills_at(monkeypatch, 3, room=0)
    out = tmp_path / "made"
    code = run(
        ["made", "train", "--dataset", "fake", "--out", out, "-q", "8", "--epochs", "3", "--batch-size", "40"]
    )
    assert_one_line_refusal(code, capsys.readouterr().err, "No space left on device", "free there")
    kept = [load_checkpoint(p) for p in out.rglob("*.pth")]
    assert kept and all(isinstance(c, dict) for c in kept)
    assert not [p for p in out.rglob("*.tmp")]
