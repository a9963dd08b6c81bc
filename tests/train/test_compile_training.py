"""``maflow train --compile``: the same losses as eager, recorded in the run, one line when it fails."""

import json

import pytest
import torch

from maflow.cli import main
from maflow.train.checkpoint import load_training_checkpoint

# aot_eager traces forward and backward through AOT autograd, as inductor does, without generating
# C++ (inductor's code generation costs about a minute per model on the 2-core CI machine;
# tests/distributions/test_compile.py runs it for a MAF's density).
BACKEND = "aot_eager"


def _train(out, *flags):
    # 250 rows in batches of 100: a full batch and a last one of 50, so two graphs are built.
    argv = ["train", "--dataset", "digits", "--out", str(out), "--epochs", "1", "--limit-train", "250"]
    argv += [
        "--num-layers",
        "2",
        "--hidden-features",
        "16",
        "--num-samples",
        "0",
        "--quiet",
        "--threads",
        "1",
    ]
    return main([*argv, *flags])


@pytest.fixture
def fresh_compiler():
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    yield counters
    torch._dynamo.reset()


def test_one_compiled_epoch_of_a_maf_on_digits_matches_eager(tmp_path, fresh_compiler):
    assert _train(tmp_path / "eager") == 0
    assert _train(tmp_path / "compiled", "--compile", "--set", f"train.compile_backend={BACKEND}") == 0
    assert fresh_compiler["stats"]["unique_graphs"] >= 2  # compiled: the full batches and the last one
    eager, compiled = (
        load_training_checkpoint(tmp_path / name / "checkpoints" / "latest.pth")
        for name in ("eager", "compiled")
    )
    (eager_epoch,), (compiled_epoch,) = eager["progress"]["history"], compiled["progress"]["history"]
    for key in ("train_loss", "val_loss"):
        assert compiled_epoch[key] == pytest.approx(eager_epoch[key], rel=1e-5), key
    for key, value in eager["model_state"].items():
        torch.testing.assert_close(compiled["model_state"][key], value, rtol=1e-4, atol=1e-5)
    config = json.loads((tmp_path / "compiled" / "results.json").read_text())["training"]["config"]
    assert config["compile"] is True and config["compile_backend"] == BACKEND
    assert (
        json.loads((tmp_path / "eager" / "results.json").read_text())["training"]["config"]["compile"]
        is False
    )
    log = (tmp_path / "compiled" / "logs" / "training.log").read_text()
    assert f"--compile: the training loss runs through torch.compile ({BACKEND})" in log


def test_an_unknown_backend_is_one_line(tmp_path, capsys, fresh_compiler):
    assert _train(tmp_path, "--compile", "--set", "train.compile_backend=no_such_backend") == 2
    error = capsys.readouterr().err.strip()
    assert "--compile: torch.compile could not build the training loss" in error and "Traceback" not in error
    assert "no_such_backend" in error and len(error.splitlines()) == 1


def test_inductor_without_a_c_compiler_is_one_line_and_the_run_resumes_without_compile(
    tmp_path, capsys, fresh_compiler
):
    import torch._inductor.config

    with torch._inductor.config.patch({"cpp.cxx": ("/no/such/compiler/g++",)}):
        assert _train(tmp_path, "--compile") == 2
    error = capsys.readouterr().err.strip()
    assert "could not build the training loss with backend 'inductor'" in error
    assert "train without --compile" in error and "Traceback" not in error
    assert len(error.splitlines()) == 1
    assert _train(tmp_path, "--resume") == 0  # the untrained start it kept goes on, eagerly
    assert load_training_checkpoint(tmp_path / "checkpoints" / "latest.pth")["progress"]["epoch"] == 1
