"""Every command that loads a checkpoint refuses a crafted pickle without running it, and names mismatches."""

import pickle

import numpy as np
import pytest
import torch

from maflow.cli import main
from maflow.data import load
from maflow.errors import CheckpointError
from maflow.models.registry import build_model
from maflow.train.checkpoint import data_fingerprint, make_checkpoint, save_training_checkpoint
from maflow.train.paths import RunPaths

MAF_OPTIONS = {"num_layers": 2, "hidden_features": 16, "num_hidden_layers": 1}


class _Exploit:
    """Unpickling this creates the file ``marker``: proof that the pickle ran code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _write_malicious(path, marker, kind):
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"model_state": {}, "progress": {"epoch": 1}, "payload": _Exploit(marker)}
    if kind == "torch.save":  # the zip format torch.load reads first
        torch.save(payload, path)
    else:  # a bare pickle, as an old or hand-made file would be
        path.write_bytes(pickle.dumps(payload))
    assert not marker.exists()


def _digits_checkpoint(path, dataset="digits", **config_changes):
    """A real (untrained) MAF checkpoint for the bundled digits, possibly altered."""
    data = load("digits")
    config = {"features": data.features, "context_features": None, **MAF_OPTIONS}
    model = build_model("maf", data.features, None, **MAF_OPTIONS)
    checkpoint = make_checkpoint(model, "maf", config, dataset, data_fingerprint(data.train), epoch=1, step=1)
    checkpoint["model_config"].update(config_changes)
    save_training_checkpoint(path, checkpoint)


def _tiny_flags():
    return ["--num-layers", "2", "--hidden-dim", "16", "--hidden-layers", "1", "--no-progress"]


def _commands(out):
    """(argv, file it loads) for every command-line path that reads a checkpoint."""
    paths = RunPaths(out, "digits")
    return {
        "evaluate": (["evaluate", "--dataset", "digits", "--out", str(out)], paths.best),
        "sample": (["sample", "--dataset", "digits", "--out", str(out), "--num-samples", "2"], paths.best),
        "train --resume": (
            ["train", "--dataset", "digits", "--out", str(out), "--resume", "--epochs", "1", *_tiny_flags()],
            paths.latest,
        ),
        "made evaluate": (["made", "evaluate", "--out", str(out / "made")], out / "made" / "best.pt"),
        "vae evaluate": (["vae", "evaluate", "--out", str(out / "vae")], out / "vae" / "checkpoint.pt"),
    }


@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
@pytest.mark.parametrize("command", ["evaluate", "sample", "train --resume", "made evaluate", "vae evaluate"])
def test_crafted_pickle_runs_nothing_on_any_command(tmp_path, capsys, command, kind):
    marker = tmp_path / "pwned"
    argv, target = _commands(tmp_path / "out")[command]
    _write_malicious(target, marker, kind)
    if command == "train --resume":
        _digits_checkpoint(target.parent / "best.pth")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot load" in err and "safely" in err and str(target) in err
    assert "Traceback" not in err and err.count("\n") == 1
    assert not marker.exists()


def test_crafted_pickle_runs_nothing_in_the_made_mnf_and_vae_loaders(tmp_path):
    from maflow.train.made import MadeTrainConfig, load_trained_made, train_made
    from maflow.train.mnf import load_classifier

    marker = tmp_path / "pwned"
    _write_malicious(tmp_path / "made" / "checkpoint.pt", marker, "torch.save")
    binary = (np.random.default_rng(0).random((20, 4)) < 0.5).astype(np.float32)
    config = MadeTrainConfig(hidden_features=[8], epochs=1)
    with pytest.raises(CheckpointError, match="safely"):
        train_made(binary, binary, config, tmp_path / "made", log=lambda _: None, resume=True)
    with pytest.raises(CheckpointError, match="safely"):
        load_trained_made(tmp_path / "made" / "checkpoint.pt")
    with pytest.raises(CheckpointError, match="safely"):
        load_classifier(tmp_path / "made" / "checkpoint.pt")
    assert not marker.exists()


@pytest.mark.parametrize(
    "change, words",
    [
        ({"dataset": "moons"}, ["'moons'", "'digits'"]),
        ({"hidden_features": 32}, ["do not fit model 'maf'", "size mismatch"]),
    ],
)
def test_evaluating_a_checkpoint_of_another_data_set_or_architecture_names_the_mismatch(
    tmp_path, capsys, change, words
):
    paths = RunPaths(tmp_path, "digits")
    dataset = change.pop("dataset", "digits")
    _digits_checkpoint(paths.best, dataset=dataset, **change)
    assert main(["evaluate", "--dataset", "digits", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert all(word in err for word in words), err
    assert "Traceback" not in err and err.count("\n") == 1


def test_other_trainers_refuse_a_flow_checkpoint_naming_what_it_is(tmp_path, capsys):
    from maflow.train.made import load_trained_made
    from maflow.train.mnf import load_classifier

    _digits_checkpoint(tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="not a binary-MADE checkpoint"):
        load_trained_made(tmp_path / "best.pt")
    with pytest.raises(CheckpointError, match="'digits', not 'mnist_grey'"):
        load_classifier(tmp_path / "best.pt")
    _digits_checkpoint(tmp_path / "vae" / "checkpoint.pt")
    assert main(["vae", "evaluate", "--out", str(tmp_path / "vae")]) == 2
    err = capsys.readouterr().err
    assert "not a VAE checkpoint" in err and "Traceback" not in err
