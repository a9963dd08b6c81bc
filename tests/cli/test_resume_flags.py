"""``--resume`` continues a run with its own settings: only the flags that change (--epochs) are given.

Every family: a run trained with non-default flags, then resumed with ``--out`` and ``--resume``
alone (plus a longer ``--epochs`` where the family counts epochs), keeps the run's model and
settings; a flag given again that disagrees is refused in one line.
"""

import json
from pathlib import Path

import pytest
import torch

from maflow.cli import main
from maflow.train.resume_flags import fill_from_run
from tests.cli.test_mnf_cli import tiny_data  # noqa: F401 (a fixture)

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def _latest(run: Path) -> dict:
    return torch.load(run / "checkpoints" / "latest.pth", weights_only=True)


def test_a_flag_left_out_takes_the_runs_value_and_a_given_one_stays():
    import argparse

    args = argparse.Namespace(seed=0, lr=1.0, threads=None, given_flags={"lr"})
    fill_from_run(args, {"seed": 9, "lr": 0.5, "threads": 4, "unknown": 1})
    assert (args.seed, args.lr, args.threads) == (9, 1.0, None) and not hasattr(args, "unknown")


def test_toy_resumes_with_its_flow_options_and_seed(tmp_path, capsys):
    own = [
        "--flow",
        "maf",
        "--steps",
        "4",
        "--seed",
        "3",
        "--batch-size",
        "250",
        "--set",
        "model.num_layers=2",
    ]
    assert main(["toy", *own, "--out", str(tmp_path), "--limit-train", "500", "--quiet"]) == 0
    assert main(["toy", "--out", str(tmp_path), "--limit-train", "500", "--resume", "--quiet"]) == 0
    settings = _latest(tmp_path)["training_config"]
    assert settings["seed"] == 3 and settings["options"]["num_layers"] == 2
    capsys.readouterr()
    assert main(["toy", "--out", str(tmp_path), "--limit-train", "500", "--resume", "--seed", "4"]) == 2
    assert "leave the flag out" in capsys.readouterr().err


def test_mnf_resumes_with_its_model_and_settings(tmp_path, tiny_data):  # noqa: F811
    own = ["--model", "lenet", "--batch-size", "25", "--lr", "0.002", "--seed", "5"]
    assert main(["mnf", "train", *own, "--epochs", "1", "--out", str(tmp_path), "--quiet"]) == 0
    assert main(["mnf", "train", "--epochs", "2", "--out", str(tmp_path), "--resume", "--quiet"]) == 0
    latest = _latest(tmp_path)
    config = latest["training_config"]
    assert (config["model"], config["batch_size"], config["lr"], config["seed"]) == ("lenet", 25, 0.002, 5)
    assert latest["progress"]["epoch"] == 2


def test_vae_resumes_with_its_configuration_and_training_subset(tmp_path):
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip("../shared/data/mnist is absent")
    small = ["model.hidden_features=[16]", "model.context_features=16", "model.flow_hidden_features=[16]"]
    argv = ["vae", "train", "--out", str(tmp_path), "--data-dir", str(SHARED_DATA), "--quiet"]
    first = [*argv, "--epochs", "1", "--limit-train", "100", "--lr", "0.0005", "--set", "train.batch_size=50"]
    for pair in small:
        first += ["--set", pair]
    assert main(first) == 0
    assert main([*argv, "--epochs", "2", "--resume"]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model"]["hidden_features"] == [16] and config["train"]["lr"] == 0.0005
    assert config["train"]["epochs"] == 2 and _latest(tmp_path)["progress"]["epoch"] == 2
