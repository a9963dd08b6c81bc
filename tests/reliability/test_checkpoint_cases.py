"""Damaged, crafted and foreign checkpoints: one line naming the file and what to do, exit 2.

Every configuration is checked before anything is built from it: a 1 KB checkpoint asking
for ``hidden_features=2**31`` is refused in well under a second instead of requesting hundreds of
gigabytes.
"""

import time

import numpy as np
import pytest
import torch

from maflow.errors import CheckpointError, NumericalError
from maflow.run.checkpoint import rebuild_model
from maflow.run.paths import RunPaths
from maflow.run.samples import save_samples
from maflow.utils.io import load_checkpoint, save_checkpoint

from .cases import DROP, assert_one_line_refusal, digits_checkpoint, run

NAN = float("nan")


def _nan_weights(state):
    return {k: v.fill_(NAN) if v.is_floating_point() else v for k, v in state.items()}


def _first_weight_3x3(state):
    # The first entry is a scalar that a load hook reads with int(): it must be refused before.
    first = next(iter(state))
    return {**state, first: torch.zeros(3, 3)}


# name: (changes to an untrained digits MAF checkpoint, words of the refusal)
CRAFTED = {
    "no features in the model config": ({"model_config__features": DROP}, ["has no 'features'"]),
    "features of the wrong type": ({"model_config__features": "64"}, ["is not a whole number"]),
    "progress of the wrong type": ({"progress": [1, 2, 3]}, ["progress is a list"]),
    "progress counter of the wrong type": ({"progress__epoch": "one"}, ["progress epoch='one'"]),
    "model_state not tensors": ({"model_state": {"w": [1.0]}}, ["not a dict of named tensors"]),
    "hidden_features=2**31": (
        {"model_config__hidden_features": 2**31},
        ["hidden_features=2147483648", "values"],
    ),
    "num_layers=-3": ({"model_config__num_layers": -3}, ["num_layers=-3 is negative"]),
    "a float size": ({"model_config__hidden_features": 8.5}, ["is not a whole number"]),
    "NaN weights": ({"model_state": _nan_weights}, ["NaN or infinite", "lower --lr"]),
    "an unknown model option": ({"model_config__flux_capacitor": 1}, ["cannot be rebuilt", "flux_capacitor"]),
    "an unknown model": ({"model_name": "nosuch"}, ["cannot be rebuilt", "unknown model"]),
    "another family's checkpoint": ({"family": "made"}, ["holds a 'made' model", "maflow made"]),
    "a newer format": ({"format_version": 99}, ["newer than this maflow"]),
    "a weight of the wrong shape": ({"model_state": _first_weight_3x3}, ["size mismatch", "(3, 3) stored"]),
    "format_version of the wrong type": ({"format_version": "1"}, ["format_version is '1'"]),
}


@pytest.mark.parametrize("command", ["sample", "evaluate"])
@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoint_is_refused_in_one_line(tmp_path, capsys, case, command):
    changes, words = CRAFTED[case]
    paths = digits_checkpoint(tmp_path, **changes)
    argv = [command, "--dataset", "digits", "--out", tmp_path, "--num-samples", "2"]
    if command == "evaluate":
        argv += ["--u-points", "0"]
    assert_one_line_refusal(run(argv), capsys.readouterr().err, str(paths.best), *words)


def test_an_allocation_bomb_is_refused_before_anything_is_built(tmp_path):
    digits_checkpoint(tmp_path, model_config__hidden_features=2**31)
    path = RunPaths(tmp_path, "digits").best
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="2147483648 is larger than the"):
        rebuild_model(load_checkpoint(path), path)
    assert time.perf_counter() - start < 2.0  # the build would allocate ~0.5 TB before failing


# name: (bytes of best.pth, or None for a folder; words)
FILES = {
    "zero-byte best.pth": (b"", ["is empty (0 bytes)"]),
    "a folder named best.pth": (None, ["is a folder, not a checkpoint file"]),
    "text named best.pth": (b"not a checkpoint\n", ["cannot load", "corrupt or not a maflow checkpoint"]),
    "a truncated zip": (b"PK\x03\x04" + b"\0" * 40, ["cannot load", "corrupt"]),
}


@pytest.mark.parametrize("case", sorted(FILES))
def test_a_broken_checkpoint_file_is_refused_in_one_line(tmp_path, capsys, case):
    content, words = FILES[case]
    paths = digits_checkpoint(tmp_path)
    paths.best.unlink()
    if content is None:
        paths.best.mkdir()
    else:
        paths.best.write_bytes(content)
    code = run(["sample", "--dataset", "digits", "--out", tmp_path, "--num-samples", "2"])
    assert_one_line_refusal(code, capsys.readouterr().err, str(paths.best), *words)


def test_a_checkpoint_that_is_not_a_dict_is_refused(tmp_path):
    save_checkpoint(tmp_path / "c.pth", [torch.zeros(2)])
    with pytest.raises(CheckpointError, match="holds a list, not a maflow checkpoint"):
        load_checkpoint(tmp_path / "c.pth")


def test_a_binary_made_config_asking_for_2_to_the_31_units_is_refused_on_load(tmp_path):
    # The older binary-MADE layout keeps its sizes in "config" and its weights in "model".
    checkpoint = {"config": {"hidden_features": [2**31]}, "model": {"w": torch.zeros(4, 3)}, "features": 3}
    save_checkpoint(tmp_path / "best.pt", checkpoint)
    with pytest.raises(
        CheckpointError, match=r"config.hidden_features=2147483648 is larger than the 12 values"
    ):
        load_checkpoint(tmp_path / "best.pt")


def test_a_vae_hparams_section_is_checked_too(tmp_path):
    checkpoint = {"hparams": {"model": {"latent_features": 10**9}}, "model": {"w": torch.zeros(10)}}
    save_checkpoint(tmp_path / "checkpoint.pt", checkpoint)
    with pytest.raises(CheckpointError, match="hparams.model.latent_features=1000000000"):
        load_checkpoint(tmp_path / "checkpoint.pt")


class _Diverged(torch.nn.Module):
    """A model whose every sample is NaN, as a diverged flow's are."""

    def sample(self, shape):
        return torch.full((*shape, 64), NAN)


@pytest.mark.parametrize("count", [1, 16])
def test_all_samples_non_finite_is_one_clear_error_and_writes_nothing(tmp_path, count):
    from maflow.data import load

    paths = RunPaths(tmp_path, "digits")
    with pytest.raises(NumericalError, match=f"all {count} samples drawn from the model are NaN or infinite"):
        save_samples(_Diverged(), load("digits"), paths, count)
    assert not paths.samples.exists() or not any(paths.samples.iterdir())


def test_some_non_finite_samples_are_kept_out_of_the_picture_only(tmp_path):
    from maflow.data import load

    class _HalfDiverged(torch.nn.Module):
        def sample(self, shape):
            x = torch.zeros((*shape, 64))
            x[0] = NAN
            return x

    paths = RunPaths(tmp_path, "digits")
    picture = save_samples(_HalfDiverged(), load("digits"), paths, 4)
    assert np.load(picture.with_suffix(".npy")).shape == (4, 64)
    assert np.load(picture.with_name(picture.stem + "_unit.npy")).shape == (3, 64)


@pytest.mark.parametrize("family", ["made", "mnf", "toy", "vae"])
def test_resume_refuses_another_familys_checkpoint_before_reading_its_settings(tmp_path, capsys, family):
    # An MNF run's settings (patience None, no model) once reached the flow's config checks
    paths = digits_checkpoint(tmp_path, family=family, training_config={"patience": None})
    code = run(["train", "--dataset", "digits", "--out", tmp_path, "--resume", "--epochs", "2"])
    words = ["belongs to a run of another family", f"{family!r}, not 'flow'", "give --out the folder"]
    assert_one_line_refusal(code, capsys.readouterr().err, str(paths.latest), *words)


@pytest.mark.parametrize(
    "argv",
    [
        ["mnf", "train", "--resume"],
        ["vae", "train", "--resume"],
        ["toy", "--flow", "maf", "--data", "moons", "--resume"],
    ],
    ids=["mnf", "vae", "toy"],
)
def test_other_families_refuse_a_flow_checkpoint_on_resume(tmp_path, capsys, argv):
    paths = digits_checkpoint(tmp_path)
    code = run([*argv, "--out", tmp_path])
    assert_one_line_refusal(code, capsys.readouterr().err, str(paths.latest), "('flow', not")
