"""Run folders of ``maflow made``, ``vae``, ``mnf``, ``toy`` and the class-conditional trainer.

Each writes into ``--out`` itself, so ``--out`` must never be swept: only our own temporaries
and files, by exact name, go; any artefact marks a run; ``--resume`` with ``--overwrite`` and a
live run are refused in one line; a bad flag is refused before anything is touched.
"""

import json
from types import SimpleNamespace

import numpy as np
import pytest

import maflow.data
from maflow.cli import main
from maflow.run.folder import RunLock
from tests.cli.test_made_cli import fake_dataset
from tests.train.test_mnf import tiny_mnist


def _plant(out):
    """A user's files in and below ``out``, and one stale temporary of ours; returns (user's, ours)."""
    user = [out / "notes.tmp", out / ".plot.tmp", out / "sub" / ".checkpoint.pt.abc123.tmp"]
    ours = out / ".checkpoint.pt.abc123.tmp"
    for path in [*user, ours]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    return user, ours


def _error(capsys) -> str:
    """The error line (the VAE's log also goes to stderr, before it)."""
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    error = err.strip().splitlines()[-1]
    assert error.startswith(("maflow ", "python -m maflow")) and ": error: " in error, err
    return error


@pytest.fixture
def made_data(monkeypatch):
    from maflow.cli import made as made_cli

    monkeypatch.setattr(made_cli, "_load_dataset", lambda name, data_dir: fake_dataset())


def test_made_keeps_the_users_files_and_refuses_what_would_lose_a_run(tmp_path, made_data, capsys):
    out = tmp_path / "project"  # as if `--out .` in a project
    user, ours = _plant(out)
    train = ["made", "train", "--dataset", "fake", "--out", str(out), "-q", "8", "--epochs", "1"]
    assert main(train) == 0
    assert not ours.exists() and all(path.read_text() == "mine" for path in user)
    assert main(train) == 2 and "already holds a run" in _error(capsys)
    assert main([*train, "--resume", "--overwrite"]) == 2 and "only one of them" in _error(capsys)
    (out / "checkpoints" / "latest.pth").unlink()  # best.pth and results.json still mark the run
    assert main([*train, "--resume"]) == 2 and "no checkpoints/latest.pth to resume from" in _error(capsys)
    assert main([*train, "--overwrite"]) == 0
    assert all(path.read_text() == "mine" for path in user)
    with RunLock(out):  # a live writer
        assert main(["made", "evaluate", "--out", str(out)]) == 2
        assert "is in use by process" in _error(capsys)
        assert main([*train, "--resume"]) == 2 and "is in use" in _error(capsys)
    assert main(["made", "evaluate", "--out", str(out)]) == 0


@pytest.fixture
def mnist(monkeypatch):
    data = tiny_mnist(num_train=50, num_other=20)
    monkeypatch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: data)


def test_mnf_refuses_a_bad_flag_before_touching_out(tmp_path, mnist, capsys):
    user, ours = _plant(tmp_path)
    train = ["mnf", "train", "--model", "lenet", "--batch-size", "25", "--out", str(tmp_path), "--quiet"]
    assert main([*train, "--epochs", "0"]) == 2 and "--epochs" in _error(capsys)
    assert ours.exists()  # nothing was cleaned before the flags were checked
    assert main([*train, "--epochs", "1"]) == 0
    assert not ours.exists() and all(path.read_text() == "mine" for path in user)
    assert main([*train, "--epochs", "1"]) == 2 and "--resume" in _error(capsys)
    assert main([*train, "--epochs", "1", "--resume", "--overwrite"]) == 2
    assert "only one of them" in _error(capsys)
    assert main([*train, "--epochs", "1", "--overwrite"]) == 0
    assert all(path.read_text() == "mine" for path in user)


def test_vae_resumes_its_checkpoint_and_refuses_a_run_that_lost_it(tmp_path, monkeypatch, capsys):
    images = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    dataset = SimpleNamespace(name="mnist_grey", image_shape=(1, 28, 28), split=lambda split: images)
    monkeypatch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: dataset)
    user, ours = _plant(tmp_path)
    train = ["vae", "train", "--out", str(tmp_path), "--epochs", "1", "--set", "train.batch_size=20"]
    for pair in ("model.hidden_features=[8]", "model.context_features=8", "model.flow_hidden_features=[8]"):
        train += ["--set", pair]
    train += ["--set", "model.latent_features=2", "--set", "model.flow_steps=1"]
    assert main(train) == 0
    assert not ours.exists() and all(path.read_text() == "mine" for path in user)
    assert main(train) == 2 and "--resume" in _error(capsys)  # a run is there: continue or overwrite
    assert main([*train, "--resume"]) == 0  # resumed (here: nothing left to train)
    (tmp_path / "checkpoints" / "latest.pth").unlink()
    assert main(train) == 2 and "--overwrite" in _error(capsys)  # history.json marks the run
    assert main([*train, "--overwrite"]) == 0
    assert all(path.read_text() == "mine" for path in user)


def test_toy_refuses_to_replace_a_gallery_without_overwrite(tmp_path, capsys):
    user, _ = _plant(tmp_path)
    toy = ["toy", "--flow", "maf", "--steps", "5", "--out", str(tmp_path)]
    assert main(toy) == 0
    assert main(toy) == 2 and "--overwrite" in _error(capsys)
    assert main([*toy, "--overwrite"]) == 0
    assert all(path.read_text() == "mine" for path in user)


def test_conditional_trainer_refuses_resume_with_overwrite_and_a_live_run(tmp_path, capsys):
    from maflow.train.conditional import command_line_main

    argv = ["--dataset", "digits", "--model", "maf", "--num-layers", "1", "--hidden-dim", "8"]
    argv += ["--epochs", "1", "--out", str(tmp_path)]
    assert command_line_main([*argv, "--resume", "--overwrite"]) == 2
    assert "only one of them" in _error(capsys)
    with RunLock(tmp_path):  # --out is the run folder itself
        assert command_line_main(argv) == 2 and "is in use by process" in _error(capsys)


def test_conditional_trainer_resumes_and_refuses_an_existing_run(tmp_path, capsys):
    import json

    from maflow.train.conditional import command_line_main

    argv = ["--dataset", "digits", "--model", "maf", "--num-layers", "1", "--hidden-dim", "8"]
    argv += ["--out", str(tmp_path)]
    assert command_line_main([*argv, "--epochs", "1"]) == 0
    assert command_line_main([*argv, "--epochs", "1"]) == 2 and "already holds a run" in _error(capsys)
    assert command_line_main([*argv, "--epochs", "2", "--resume"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["epochs_run"] == 2
    log = (tmp_path / "logs" / "training.log").read_text()
    assert "resumed from" in log


def test_toy_stopped_by_a_signal_keeps_the_step_and_resumes_exactly(tmp_path, monkeypatch, capsys):
    import json
    import os
    import signal

    import torch

    toy = ["toy", "--flow", "maf", "--steps", "50", "--batch-size", "1000", "--quiet"]  # 10 steps an epoch
    assert main([*toy, "--out", str(tmp_path / "straight")]) == 0
    step, calls = torch.optim.Adam.step, {"n": 0}

    def signalling_step(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 13:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(self, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(torch.optim.Adam, "step", signalling_step)
        assert main([*toy, "--out", str(tmp_path / "stopped")]) == 143
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "SIGTERM; kept epoch 2 (batch 3), step 13 in" in error and "--resume" in error
    assert main([*toy, "--out", str(tmp_path / "stopped"), "--resume"]) == 0
    straight, resumed = (
        json.loads((tmp_path / n / "results.json").read_text()) for n in ("straight", "stopped")
    )
    assert resumed["test_nll"] == straight["test_nll"] and resumed["steps"] == 50


# --- one layout: every training command writes the same run folder into --out -------------------

LAYOUT = [
    "checkpoints/best.pth",
    "checkpoints/latest.pth",
    "logs/training.log",
    "results.json",
    "results.txt",
]
TINY_FLOW = ["--num-layers", "1", "--hidden-features", "8", "--num-samples", "0", "--epochs", "1", "--quiet"]


def _flow(tmp_path, monkeypatch):
    return ["train", "--dataset", "digits", *TINY_FLOW, "--limit-train", "200"]


def _flow_data(tmp_path, monkeypatch):
    np.save(tmp_path / "rows.npy", np.random.default_rng(0).normal(size=(300, 2)))
    return ["train", "--data", str(tmp_path / "rows.npy"), *TINY_FLOW, "--batch-size", "50"]


def _made(tmp_path, monkeypatch):
    from maflow.cli import made as made_cli

    monkeypatch.setattr(made_cli, "_load_dataset", lambda name, data_dir: fake_dataset())
    return ["made", "train", "--dataset", "fake", "-q", "8", "--epochs", "1"]


def _vae(tmp_path, monkeypatch):
    images = np.random.default_rng(0).random((40, 784), dtype=np.float32)
    dataset = SimpleNamespace(name="mnist_grey", image_shape=(1, 28, 28), split=lambda split: images)
    monkeypatch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: dataset)
    argv = ["vae", "train", "--epochs", "1", "--quiet", "--set", "train.batch_size=20"]
    argv += ["--set", "model.hidden_features=[8]"]
    return [*argv, "--set", "model.latent_features=2", "--set", "model.flow_steps=1"]


def _mnf(tmp_path, monkeypatch):
    data = tiny_mnist(num_train=50, num_other=20)
    monkeypatch.setattr(maflow.data, "load", lambda name, data_dir=None, **kw: data)
    return ["mnf", "train", "--model", "lenet", "--batch-size", "25", "--epochs", "1", "--quiet"]


def _toy(tmp_path, monkeypatch):
    return ["toy", "--flow", "maf", "--steps", "5", "--quiet"]


TRAINING_COMMANDS = {
    "train": _flow,
    "train --data": _flow_data,
    "made train": _made,
    "vae train": _vae,
    "mnf train": _mnf,
    "toy": _toy,
}


@pytest.mark.parametrize("name", sorted(TRAINING_COMMANDS))
def test_every_training_command_writes_the_same_layout_into_out(name, tmp_path, monkeypatch):
    out = tmp_path / "runs" / "a"
    assert main([*TRAINING_COMMANDS[name](tmp_path, monkeypatch), "--out", str(out)]) == 0
    missing = [part for part in LAYOUT if not (out / part).is_file()]
    assert missing == [], f"{name} did not write {missing} into --out"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["a"]  # nothing beside or below it
    assert json.loads((out / "results.json").read_text())


# --- old runs keep working: OUT/<dataset>/ with results_summary.* ------------------------------


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    """A flow run in the layout written before --out was the run folder: OUT/digits/, results_summary.*."""
    out = tmp_path_factory.mktemp("old")
    argv = ["train", "--dataset", "digits", *TINY_FLOW, "--limit-train", "200", "--out", str(out / "digits")]
    assert main(argv) == 0
    for suffix in ("json", "txt"):
        (out / "digits" / f"results.{suffix}").rename(out / "digits" / f"results_summary.{suffix}")
    return out


def _old_layout_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "old layout" in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_an_old_layout_run_is_evaluated_in_place(old_run, capsys):
    argv = ["evaluate", "--dataset", "digits", "--out", str(old_run), "--u-points", "0", "--num-samples", "0"]
    assert main([*argv, "--quiet"]) == 0
    assert str(old_run / "digits") in _old_layout_line(capsys)
    results = json.loads((old_run / "digits" / "results_summary.json").read_text())
    assert {"training", "evaluation"} <= set(results)  # the old file is updated, not moved
    assert not (old_run / "results.json").exists() and not (old_run / "digits" / "results.json").exists()
    assert main(["evaluate", "--run", str(old_run / "digits"), "--u-points", "0", "--num-samples", "0"]) == 0
    assert "old layout" not in capsys.readouterr().err  # the run folder itself: nothing to say


def test_an_old_layout_run_is_sampled_and_scored(old_run, tmp_path, capsys):
    output = tmp_path / "s.png"
    assert main(["sample", "--run", str(old_run), "--num-samples", "3", "--output", str(output)]) == 0
    assert str(old_run / "digits") in _old_layout_line(capsys)
    assert np.load(tmp_path / "s.npy").shape == (3, 64)
    from maflow.data import load

    np.save(tmp_path / "rows.npy", load("digits").test[:5])
    score = ["score", "--run", str(old_run), "--data", str(tmp_path / "rows.npy"), "--quiet"]
    assert main([*score, "--output", str(tmp_path / "scores.npy")]) == 0
    _old_layout_line(capsys)
    assert np.isfinite(np.load(tmp_path / "scores.npy")).all()


def test_an_old_layout_run_resumes_in_place(old_run, capsys):
    before = sorted(p.relative_to(old_run).as_posix() for p in old_run.rglob("*") if p.is_file())
    argv = ["train", "--dataset", "digits", *TINY_FLOW, "--limit-train", "200", "--epochs", "2"]
    assert main([*argv, "--out", str(old_run), "--resume"]) == 0
    assert str(old_run / "digits") in _old_layout_line(capsys)
    training = json.loads((old_run / "digits" / "results_summary.json").read_text())["training"]
    assert training["epochs_run"] == 2
    after = sorted(p.relative_to(old_run).as_posix() for p in old_run.rglob("*") if p.is_file())
    assert set(before) <= set(after) and not [p for p in after if not p.startswith("digits/")]


def test_evaluate_and_sample_rebuild_a_made_run_from_its_folder(tmp_path, monkeypatch, capsys):
    out = tmp_path / "made-run"
    assert main([*_made(tmp_path, monkeypatch), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--run", str(out)]) == 0
    assert "'made' run: maflow made evaluate" in capsys.readouterr().out
    assert list(out.glob("evaluate-test-*.json"))
    assert main(["sample", "--out", str(out), "--num-samples", "3", "--seed", "2"]) == 0
    assert [np.load(path).shape for path in (out / "samples").glob("*seed2.npy")] == [(3, 5)]
    assert main(["evaluate", "--run", str(out), "--output-dir", str(tmp_path / "x")]) == 2
    assert "--output-dir is for flow runs" in _error(capsys)


def test_sample_says_why_an_mnf_run_has_nothing_to_sample(tmp_path, monkeypatch, capsys):
    out = tmp_path / "mnf-run"
    assert main([*_mnf(tmp_path, monkeypatch), "--out", str(out)]) == 0
    assert main(["sample", "--run", str(out)]) == 2
    assert "holds a 'mnf' run, an MNIST classifier" in _error(capsys)
