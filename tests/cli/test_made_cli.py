import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from maflow.cli import made as made_cli
from maflow.cli import main

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def fake_dataset(seed: int = 0, features: int = 5):
    rng = np.random.RandomState(seed)

    def rows(n):
        first = rng.rand(n, 1) < 0.5
        return np.concatenate([first, first ^ (rng.rand(n, features - 1) < 0.1)], axis=1).astype(np.float32)

    # Distinct split sizes, so the report shows which split was scored.
    splits = {"train": rows(150), "val": rows(40), "test": rows(70)}
    return SimpleNamespace(**splits, split=lambda name: splits[name])


@pytest.fixture
def fake_data(monkeypatch):
    dataset = fake_dataset()
    requested = []

    def load(name, data_dir):
        requested.append((name, data_dir))
        return dataset

    monkeypatch.setattr(made_cli, "_load_dataset", load)
    return requested


def test_train_reports_the_test_split_and_evaluate_agrees(tmp_path, fake_data, capsys):
    out = tmp_path / "run"
    argv = ["made", "train", "--dataset", "fake", "--data-dir", "D", "--out", str(out)]
    argv += [
        "-q",
        "12,10",
        "-n",
        "3",
        "-r",
        "2",
        "-s",
        "3",
        "--epochs",
        "3",
        "--batch-size",
        "50",
        "--lr",
        "0.01",
    ]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert fake_data == [("fake", "D")]
    assert results["test"]["count"] == 70 and results["val"]["count"] == 40
    assert results["config"]["hidden_features"] == [12, 10] and results["config"]["num_masks"] == 3
    assert results["test"]["nll"] > 0 and results["test_single_mask"]["count"] == 70
    assert "TEST NLL (S=3" in capsys.readouterr().out

    assert main(["made", "evaluate", "--out", str(out)]) == 0
    evaluated = json.loads((out / "evaluate-test-s3.json").read_text())
    assert evaluated["nll"] == pytest.approx(results["test"]["nll"], rel=1e-12)
    assert main(["made", "evaluate", "--out", str(out), "-s", "1", "--split", "val"]) == 0
    assert json.loads((out / "evaluate-val-s1.json").read_text())["count"] == 40

    assert main(["made", "sample", "--out", str(out), "-N", "7", "--seed", "3"]) == 0
    samples = np.load(out / "samples" / "samples-s3-seed3.npy")
    assert samples.shape == (7, 5) and set(np.unique(samples)) <= {0, 1}
    assert (
        main(["made", "sample", "--out", str(out), "--png", str(tmp_path / "grid.png")]) == 2
    )  # 5 is not square


def test_cli_errors_are_reported_without_traceback(tmp_path, fake_data, capsys):
    out = str(tmp_path / "run")
    assert main(["made", "train", "--dataset", "fake", "--out", out, "-n", "2", "-s", "4"]) == 2
    assert "--samples" in capsys.readouterr().err
    assert main(["made", "train", "--dataset", "fake", "--out", out, "-q", "8", "--epochs", "1"]) == 0
    assert main(["made", "train", "--dataset", "fake", "--out", out, "-q", "8", "--epochs", "1"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["made", "evaluate", "--out", out, "-s", "2"]) == 2
    assert main(["made", "evaluate", "--out", str(tmp_path / "nothing")]) == 2
    assert "train first" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["made", "train", "--dataset", "fake", "--out", out, "-q", "5,x"])


def test_evaluate_refuses_other_training_data(tmp_path, monkeypatch):
    monkeypatch.setattr(made_cli, "_load_dataset", lambda name, data_dir: fake_dataset(0))
    out = str(tmp_path / "run")
    assert main(["made", "train", "--dataset", "fake", "--out", out, "-q", "8", "--epochs", "1"]) == 0
    monkeypatch.setattr(made_cli, "_load_dataset", lambda name, data_dir: fake_dataset(1))
    assert main(["made", "evaluate", "--out", out]) == 2


def test_sample_grid_for_square_data(tmp_path, monkeypatch):
    monkeypatch.setattr(made_cli, "_load_dataset", lambda name, data_dir: fake_dataset(0, features=4))
    out = str(tmp_path / "run")
    assert main(["made", "train", "--dataset", "fake", "--out", out, "-q", "8", "--epochs", "1"]) == 0
    png = tmp_path / "grid.png"
    assert main(["made", "sample", "--out", out, "-N", "5", "--png", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.shared_data
def test_train_on_the_real_dna_split(tmp_path):
    pytest.importorskip("maflow.data")
    if not (SHARED_DATA / "made_uci_binary" / "dna.npz").is_file():
        pytest.skip("../shared/data/made_uci_binary/dna.npz is absent")
    out = tmp_path / "dna"
    argv = ["made", "train", "--dataset", "dna", "--data-dir", str(SHARED_DATA), "--out", str(out)]
    assert main([*argv, "-q", "20", "--epochs", "1", "--batch-size", "200"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["split_sizes"] == [1400, 600, 1186]
    assert results["test"]["count"] == 1186
    assert 60 < results["test"]["nll"] < 180 * np.log(2) + 1  # better than coin flips, not absurd
