"""The run flags every training command shares: --print-config, --device, --set, --limit-train."""

from __future__ import annotations

import json

import pytest
import torch

from maflow.cli import main

# Each training command, with what it needs besides the shared flags.
COMMANDS = {
    "train": ["train", "--dataset", "digits"],
    "conditional": ["train", "--conditional", "--dataset", "digits"],
    "made": ["made", "train", "--dataset", "binarized_mnist"],
    "vae": ["vae", "train", "--config", "vae_dense_cpu"],
    "mnf": ["mnf", "train"],
    "toy": ["toy", "--flow", "maf"],
}


def _find(config, key):
    """The value of ``key`` anywhere in a printed configuration (sections or flat)."""
    if isinstance(config, dict):
        if key in config:
            return config[key]
        for value in config.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_print_config_prints_the_resolved_settings_and_exits_0(name, tmp_path, capsys):
    argv = [
        *COMMANDS[name],
        "--out",
        str(tmp_path / "run"),
        "--lr",
        "0.0123",
        "--seed",
        "7",
        "--print-config",
    ]
    assert main(argv) == 0
    config = json.loads(capsys.readouterr().out)
    assert _find(config, "lr") == 0.0123 and _find(config, "seed") == 7
    assert not any(tmp_path.iterdir())  # nothing was written


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_an_unavailable_device_is_one_line_and_exit_2(name, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is here")
    assert main([*COMMANDS[name], "--out", str(tmp_path), "--device", "cuda", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--device cuda" in err and "--device cpu" in err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_set_overrides_and_an_unknown_key_is_refused(name, tmp_path, capsys):
    assert main([*COMMANDS[name], "--out", str(tmp_path), "--set", "lr=0.5", "--print-config"]) == 0
    assert _find(json.loads(capsys.readouterr().out), "lr") == 0.5
    assert main([*COMMANDS[name], "--out", str(tmp_path), "--set", "no_such_setting=1"]) == 2
    assert "no_such_setting" in capsys.readouterr().err


def test_hidden_features_and_its_published_alias_are_one_setting(tmp_path, capsys):
    for flag in ("--hidden-features", "--hidden-dim"):
        assert main(["train", "--dataset", "digits", flag, "24", "--print-config"]) == 0
        assert json.loads(capsys.readouterr().out)["model_options"]["hidden_features"] == 24


def test_conditional_training_from_maflow_train(tmp_path, capsys):
    argv = [
        "train",
        "--conditional",
        "--dataset",
        "digits",
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--hidden-features",
        "16",
        "--num-layers",
        "1",
        "--limit-train",
        "200",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--quiet",
    ]
    assert main(argv) == 0
    assert "accuracy" in capsys.readouterr().out
    run = tmp_path  # --out is the run folder itself
    assert (run / "checkpoints" / "best.pth").is_file() and (run / "results.json").is_file()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_training_command_has_the_shared_flags(name, capsys):
    with pytest.raises(SystemExit):
        main([*COMMANDS[name], "--help"])
    text = capsys.readouterr().out
    flags = [
        "--out",
        "--device",
        "--threads",
        "--seed",
        "--epochs",
        "--batch-size",
        "--lr",
        "--patience",
        "--resume",
        "--overwrite",
        "--limit-train",
        "--print-config",
        "--quiet",
        "--set",
    ]
    assert all(flag in text for flag in flags), [flag for flag in flags if flag not in text]


def test_toy_trains_on_the_cpu_quietly_with_epochs_and_a_model_setting(tmp_path, capsys):
    argv = [
        "toy",
        "--flow",
        "maf",
        "--out",
        str(tmp_path),
        "--epochs",
        "1",
        "--batch-size",
        "500",
        "--limit-train",
        "1000",
        "--set",
        "model.num_layers=2",
        "--device",
        "cpu",
        "--quiet",
    ]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "results.json").read_text())
    assert summary["steps"] == 2 and summary["options"]["num_layers"] == 2
    assert main([*argv, "--resume"]) == 0  # toy runs keep checkpoints/latest.pth and resume it


def test_a_run_on_the_first_n_examples_evaluates_and_samples(tmp_path, capsys):
    small = ["--hidden-features", "16", "--num-layers", "1", "--threads", "1", "--quiet"]
    train = ["train", "--dataset", "digits", "--out", str(tmp_path), "--epochs", "1", "--limit-train", "300"]
    assert main([*train, *small, "--num-samples", "0"]) == 0
    common = ["--dataset", "digits", "--out", str(tmp_path), "--device", "cpu"]
    assert main(["evaluate", *common, "--num-samples", "0", "--u-points", "0", "--quiet"]) == 0
    assert main(["sample", *common, "--num-samples", "4"]) == 0
    # the fingerprint covers exactly the rows trained on: resuming with another limit is refused
    assert main([*train[:-1], "400", *small, "--resume"]) == 2
    assert "different data" in capsys.readouterr().err
