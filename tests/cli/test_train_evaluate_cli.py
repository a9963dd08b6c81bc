"""End to end on the bundled digits: train, resume, evaluate, sample; flag errors."""

import json
import shutil

import numpy as np
import pytest
import torch

from maflow.cli import main

TINY = [
    "--dataset",
    "digits",
    "--num-layers",
    "2",
    "--hidden-dim",
    "16",
    "--hidden-layers",
    "1",
    "--num-samples",
    "4",
]


def _train(out, *extra):
    return main(["train", *TINY, "--out", str(out), "--no-progress", *extra])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    assert _train(out, "--epochs", "2") == 0
    return out


def test_training_writes_the_whole_output_tree(run):
    root = run  # --out is the run folder itself
    for name in [
        "checkpoints/best.pth",
        "checkpoints/latest.pth",
        "logs/training.log",
        "samples/digits_samples.png",
        "samples/digits_samples.npy",
        "results.txt",
        "results.json",
    ]:
        assert (root / name).is_file(), name
    assert list((root / "tensorboard").glob("events.out.tfevents.*"))
    training = json.loads((root / "results.json").read_text())["training"]
    assert training["epochs_run"] == 2 and training["model_config"]["hidden_features"] == 16
    assert training["config"]["lr"] == 1e-4  # from the digits preset
    assert "epoch 2 step 30" in (root / "logs" / "training.log").read_text()


def test_evaluation_is_labelled_and_independent_of_the_batch_size(run, capsys):
    results = {}
    for batch_size, pictures in (("1000", []), ("7", ["--u-points", "0", "--num-samples", "0"])):
        assert (
            main(
                ["evaluate", "--dataset", "digits", "--out", str(run), "--batch-size", batch_size, *pictures]
            )
            == 0
        )
        results[batch_size] = json.loads((run / "results.json").read_text())["evaluation"]
    small, large = results["7"]["test"], results["1000"]["test"]
    assert small["log_likelihood"]["mean"] == pytest.approx(
        large["log_likelihood"]["mean"], rel=1e-12, abs=1e-9
    )
    assert small["log_likelihood"]["count"] == 179
    assert {"bits_per_dim_pixel_space", "bits_per_dim_model_space"} <= set(small)
    text = (run / "results.txt").read_text()
    assert "pixel space (MAF convention" in text and "model space (NLL/(D ln 2), no Jacobian)" in text
    assert "test average log-likelihood, model space" in capsys.readouterr().out
    for figure in ("digits_u_marginals.png", "digits_u_scatter.png"):
        assert (run / "figures" / figure).is_file()
    assert "training" in json.loads((run / "results.json").read_text())


def test_sample_command_writes_npy_and_picture(run):
    output = run / "s.png"
    assert (
        main(
            [
                "sample",
                "--dataset",
                "digits",
                "--out",
                str(run),
                "--num-samples",
                "5",
                "--output",
                str(output),
            ]
        )
        == 0
    )
    assert output.is_file() and np.load(run / "s.npy").shape == (5, 64)
    assert np.load(run / "s_unit.npy").max() <= 1


def test_resume_continues_exactly_from_latest(tmp_path):
    assert _train(tmp_path / "a", "--epochs", "3") == 0
    assert _train(tmp_path / "b", "--epochs", "2") == 0
    assert _train(tmp_path / "b", "--epochs", "2") == 2  # refuses to overwrite a run silently
    assert _train(tmp_path / "b", "--epochs", "2", "--overwrite") == 0  # the same run again, from scratch
    assert _train(tmp_path / "b", "--epochs", "3", "--resume") == 0
    log = (tmp_path / "b" / "logs" / "training.log").read_text()
    assert "resumed from" in log and "epoch 3 step 45" in log
    a = torch.load(tmp_path / "a" / "checkpoints" / "latest.pth", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "latest.pth", weights_only=True)
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    assert torch.equal(
        a["optimizer_state"]["state"][0]["exp_avg"], b["optimizer_state"]["state"][0]["exp_avg"]
    )


def test_resume_takes_the_model_and_settings_from_the_checkpoint(tmp_path, capsys):
    # Only --resume and a new --epochs: the run's own model flags, seed and options are not repeated.
    own = ["--seed", "7", "--weight-decay-mode", "decoupled", "--nan-policy", "stop", "--limit-train", "300"]
    assert _train(tmp_path / "a", "--epochs", "3", *own) == 0
    assert _train(tmp_path / "b", "--epochs", "2", *own) == 0
    argv = ["train", "--dataset", "digits", "--out", str(tmp_path / "b"), "--no-progress", "--epochs", "3"]
    assert main([*argv, "--resume"]) == 0
    a = torch.load(tmp_path / "a" / "checkpoints" / "latest.pth", weights_only=True)
    b = torch.load(tmp_path / "b" / "checkpoints" / "latest.pth", weights_only=True)
    assert b["model_config"]["hidden_features"] == 16 and b["training_config"]["seed"] == 7
    assert b["training_config"]["nan_policy"] == "stop" and b["training_config"]["limit_train"] == 300
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    capsys.readouterr()
    assert main([*argv, "--resume", "--seed", "8"]) == 2  # a flag given again must agree with the run
    error = capsys.readouterr().err
    assert "seed=7" in error and "leave the flag out" in error


def test_resume_with_another_model_names_the_mismatch(run, capsys):
    assert _train(run, "--epochs", "3", "--resume", "--hidden-dim", "32") == 2
    assert "hidden_features=16" in capsys.readouterr().err


def test_resume_with_another_learning_rate_uses_it_and_records_it(run, tmp_path):
    # A deliberate change (say a lower rate after a NaN stop): logged and kept in the checkpoint.
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    assert _train(copy, "--epochs", "3", "--resume", "--lr", "0.0005") == 0
    latest = torch.load(copy / "checkpoints" / "latest.pth", weights_only=True)
    assert latest["optimizer_state"]["param_groups"][0]["lr"] == 0.0005
    assert "0.0005" in str(latest["progress"]["lr_changes"])


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--dataset", "nosuchdata"], "unknown data set 'nosuchdata'"),
        (["--dataset", "digits", "--model", "nosuchmodel"], "unknown model 'nosuchmodel'"),
        (["--dataset", "digits", "--lr", "-1"], "--lr must be positive"),
        (["--dataset", "digits", "--hidden-dim", "0"], "--hidden-features must be a positive integer"),
    ],
)
def test_bad_flags_give_one_clear_line_and_exit_code_2(tmp_path, capsys, argv, words):
    assert main(["train", *argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_evaluate_without_a_run_says_to_train_first(tmp_path, capsys):
    assert main(["evaluate", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    assert "train first" in capsys.readouterr().err


def test_auto_trains_every_image_data_set_present(tmp_path, capsys):
    empty = tmp_path / "data"
    empty.mkdir()
    argv = ["train", "--auto", "--data-dir", str(empty), "--out", str(tmp_path / "runs"), "--no-progress"]
    assert main([*argv, "--epochs", "1", "--num-layers", "1", "--hidden-dim", "8", "--num-samples", "0"]) == 0
    out = capsys.readouterr().out
    assert "skipping mnist" in out and "training digits" in out
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["digits"]


def test_seed_spec_scripts_accept_underscore_flags(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [
            sys.executable,
            str(root / "train.py"),
            "--dataset",
            "digits",
            "--hidden_dim",
            "0",
            "--num_layers",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2 and "--hidden-features must be a positive integer" in result.stderr
    assert not (tmp_path / "maf_results").exists()


@pytest.mark.parametrize("dataset, advice", [("dna", "maflow made train"), ("mnist_grey", "dequantis")])
def test_discrete_data_sets_are_refused_with_advice(dataset, advice, capsys, tmp_path):
    assert main(["train", "--dataset", dataset, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert advice in error and "Traceback" not in error


def test_run_folder_and_output_dir_evaluate_a_registered_run_without_writing_into_it(run, tmp_path, capsys):
    before = json.loads((run / "results.json").read_text())
    argv = ["evaluate", "--run", str(run), "--u-points", "0", "--num-samples", "0", "--quiet"]
    assert main([*argv, "--output-dir", str(tmp_path / "elsewhere")]) == 0
    assert "test average log-likelihood" in capsys.readouterr().out
    written = json.loads((tmp_path / "elsewhere" / "results.json").read_text())
    assert written["evaluation"]["test"]["log_likelihood"]["count"] > 0
    assert json.loads((run / "results.json").read_text()) == before
