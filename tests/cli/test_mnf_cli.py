"""Tests of ``maflow mnf``: train, rotate and ood on tiny data through the real parser."""

import json

import numpy as np
import pytest

import maflow.data
import maflow.evaluate.mnf as evaluate_mnf
from maflow.cli import main
from tests.train.test_mnf import tiny_mnist


@pytest.fixture
def tiny_data(monkeypatch):
    data = tiny_mnist(num_train=50, num_other=20)
    monkeypatch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: data)
    fashion = np.random.default_rng(1).random((20, 784), dtype=np.float32)
    monkeypatch.setattr(
        evaluate_mnf, "fashion_test_images", lambda folder: (fashion, np.zeros(20, dtype=np.int64))
    )
    return data


@pytest.fixture
def runs(tmp_path, tiny_data):
    for model in ("mnf-lenet", "lenet"):
        out = tmp_path / model
        args = ["mnf", "train", "--model", model, "--epochs", "1", "--batch-size", "25", "--out", str(out)]
        assert main([*args, "--test-samples", "2", "--quiet"]) == 0
        assert (out / "results.json").exists()
    return tmp_path


def test_rotate_writes_a_figure_and_its_numbers(runs, capsys):
    figure = runs / "fig" / "rot.png"
    code = main(
        ["mnf", "rotate", "--mnf-run", str(runs / "mnf-lenet"), "--lenet-run", str(runs / "lenet")]
        + ["--digit-index", "3", "--samples", "8", "--step", "60", "--out", str(figure)]
    )
    assert code == 0
    assert figure.read_bytes()[:4] == b"\x89PNG"
    numbers = json.loads(figure.with_suffix(".json").read_text())
    assert numbers["angles"] == [0.0, 60.0, 120.0, 180.0]
    assert np.allclose(np.sum(numbers["mnf_mean"], -1), 1, atol=1e-5)
    assert "180 deg" in capsys.readouterr().out


def test_ood_reports_entropies_for_both_models(runs):
    out = runs / "ood.json"
    code = main(
        ["mnf", "ood", "--mnf-run", str(runs / "mnf-lenet"), "--lenet-run", str(runs / "lenet")]
        + ["--samples", "4", "--limit", "10", "--out", str(out)]
    )
    assert code == 0
    summary = json.loads(out.read_text())
    for model in ("mnf-lenet", "lenet"):
        rows = summary["models"][model]
        assert rows["mnist"]["count"] == 10 and 0 <= rows["fashion"]["entropy"] <= np.log(10) + 1e-6
    assert summary["models"]["lenet"]["num_samples"] == 1


def test_swapped_runs_and_missing_checkpoints_give_clear_errors(runs, tmp_path, capsys):
    args = ["mnf", "ood", "--mnf-run", str(runs / "lenet"), "--lenet-run", str(runs / "mnf-lenet")]
    assert main(args) == 2
    assert "--model mnf-lenet" in capsys.readouterr().err
    assert (
        main(["mnf", "rotate", "--mnf-run", str(tmp_path / "nope"), "--lenet-run", "x", "--out", "f.png"])
        == 2
    )
    assert "no checkpoint" in capsys.readouterr().err
