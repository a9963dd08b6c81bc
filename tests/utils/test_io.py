import os
import pickle

import pytest
import torch

from maflow.errors import CheckpointError, MaflowError
from maflow.utils.io import ensure_writable_dir, load_checkpoint, save_checkpoint, write_json


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


def test_checkpoint_round_trip(tmp_path):
    save_checkpoint(tmp_path / "c.pth", {"w": torch.ones(2), "epoch": 3, "config": {"a": [1, 2]}})
    loaded = load_checkpoint(tmp_path / "c.pth")
    assert loaded["epoch"] == 3 and torch.equal(loaded["w"], torch.ones(2))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pth"]  # no temporary file left


def test_malicious_pickle_executes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("evil.pth", "wb") as f:
        pickle.dump({"payload": _Exploit()}, f)
    with pytest.raises(CheckpointError, match="safely"):
        load_checkpoint("evil.pth")
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "nope.pth")
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(tmp_path / "bad.pth")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to read-only directories")
def test_unwritable_directory(tmp_path):
    tmp_path.chmod(0o500)
    with pytest.raises(MaflowError, match="cannot write"):
        ensure_writable_dir(tmp_path / "sub")


def test_unwritable_path_under_a_file(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(MaflowError, match="cannot write"):
        ensure_writable_dir(tmp_path / "file" / "sub")


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        save_checkpoint(tmp_path / "c.pth", {"epoch": 1})
    finally:
        os.umask(umask)
    import maflow.utils.io as io_module

    expected = 0o666 & ~io_module._UMASK
    assert (tmp_path / "c.pth").stat().st_mode & 0o777 == expected


def test_write_json_writes_strict_json(tmp_path):
    import json

    import numpy as np

    path = tmp_path / "r.json"
    write_json(path, {"se": float("nan"), "ll": [float("-inf"), np.float32(2.5)], "n": np.float64("inf")})
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"se": None, "ll": [None, 2.5], "n": None}
