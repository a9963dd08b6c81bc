"""``maflow reproduce``: the list, the missing-data line, and one table at the quick budget (CI-sized)."""

import json
from types import SimpleNamespace

import numpy as np

from maflow.cli import made as made_cli
from maflow.cli import main


def test_list_names_every_table(capsys):
    assert main(["reproduce", "--list"]) == 0
    out = capsys.readouterr().out
    for name in ("maf-mnist", "maf-uci", "made-binarized-mnist", "made-uci-binary", "vae-iaf", "mnf-mnist"):
        assert name in out


def test_absent_data_gives_one_line_naming_the_files(tmp_path, capsys):
    assert main(["reproduce", "maf-uci", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "power/{data.npy" in err and "zenodo.org/record/1161203" in err
    assert not (tmp_path / "o").exists()


def test_bad_names_and_flags_are_one_line_errors(tmp_path, capsys):
    assert main(["reproduce", "no-such-table"]) == 2
    assert "maf-mnist" in capsys.readouterr().err
    assert main(["reproduce"]) == 2
    assert (
        main(["reproduce", "made-uci-binary", "--rows", "nothing-matches", "--data-dir", str(tmp_path)]) == 2
    )
    assert "--list" in capsys.readouterr().err


def _fake_nips(seed=0, features=12):
    rng = np.random.RandomState(seed)

    def rows(n):
        first = rng.rand(n, 1) < 0.5
        return np.concatenate([first, first ^ (rng.rand(n, features - 1) < 0.1)], axis=1).astype(np.float32)

    splits = {"train": rows(120), "val": rows(30), "test": rows(50)}
    return SimpleNamespace(**splits, split=lambda name: splits[name])


def test_quick_table_runs_the_rows_and_reports_what_they_measured(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data"
    (data / "made_uci_binary").mkdir(parents=True)
    (data / "made_uci_binary" / "nips.npz").write_bytes(b"")  # present; the loader is replaced
    monkeypatch.setattr(made_cli, "_load_dataset", lambda name, data_dir: _fake_nips())
    out = tmp_path / "out"
    rows = ["--rows", "NIPS-0-12: MADE mask"]  # one row keeps the CI test short
    argv = ["reproduce", "made-uci-binary", *rows, "--data-dir", str(data), "--out", str(out)]
    assert main([*argv, "--device", "cpu"]) == 0
    table = (out / "made-uci-binary-quick.md").read_text()
    assert (
        table
        == capsys.readouterr().out.split("table written to " + str(out / "made-uci-binary-quick.md") + "\n")[
            -1
        ]
    )
    rows = [line for line in table.splitlines() if line.startswith("| NIPS")]
    assert len(rows) == 1 and "| DNA" not in table and "one mask |" not in table
    for line, folder in zip(rows, ["nips-0-12-made-mask-sampling"]):
        test = json.loads((out / folder / "results.json").read_text())["test"]
        assert f"| {test['nll']:.2f} ± {test['nll_2se']:.2f} (1 SE {test['nll_1se']:.2f}) |" in line
        # NIPS-0-12's mask sampling cycles 8 masks (chosen on the validation split, docs/results.md)
        assert "| 277.28 |" in line and "-n 8 -r 1 -s 8" in line
        assert "`maflow made train --dataset nips" in line and " min |" in line
    assert "Device: cpu" in table and "Commit: " in table and "Budget **quick**" in table


def test_a_failing_row_is_reported_in_the_table_and_the_others_still_run(tmp_path, monkeypatch):
    from maflow.errors import DataError

    data = tmp_path / "data"
    (data / "made_uci_binary").mkdir(parents=True)
    (data / "made_uci_binary" / "nips.npz").write_bytes(b"")

    def corrupt(name, data_dir):
        raise DataError("nips.npz is corrupt; download it again")

    monkeypatch.setattr(made_cli, "_load_dataset", corrupt)
    out = tmp_path / "out"
    assert (
        main(["reproduce", "made-uci-binary", "--rows", "NIPS", "--data-dir", str(data), "--out", str(out)])
        == 0
    )
    table = (out / "made-uci-binary-quick.md").read_text()
    assert table.count("failed: `maflow made` exited with 2") == 2
