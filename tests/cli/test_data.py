import json

import numpy as np

from maflow.cli import main
from tests.data.writers import write_made_npz


def test_data_list_shows_dims_sizes_location_and_presence(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    write_made_npz(tmp_path / "made_uci_binary" / "adult.npz", 123)
    assert main(["data", "list", "--data-dir", str(tmp_path), "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["adult"]["status"] == "present (npz)" and rows["adult"]["features"] == 123
    assert rows["adult"]["splits"] == "5,000/1,414/26,147"
    assert rows["mnist"]["status"] == "missing" and rows["mnist"]["where"] == str(tmp_path / "mnist")
    assert rows["digits"]["status"] == "embedded"
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    assert "power" in capsys.readouterr().out


def test_data_prepare_and_missing_file_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MAFLOW_CACHE", str(tmp_path / "cache"))
    (tmp_path / "miniboone").mkdir()
    np.save(tmp_path / "miniboone" / "data.npy", np.random.RandomState(0).randn(60, 43))
    assert main(["data", "prepare", "miniboone", "--data-dir", str(tmp_path)]) == 0
    assert "D = 43, train/val/test = 49/5/6" in capsys.readouterr().out
    assert main(["data", "list", "--data-dir", str(tmp_path), "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["miniboone"]["status"] == "present (maf), cached"
    assert main(["data", "prepare", "power", "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "data.npy" in error and str(tmp_path / "power") in error and "Traceback" not in error
