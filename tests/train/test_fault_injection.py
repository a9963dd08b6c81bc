"""SIGKILL at random moments and in the middle of writes: resumed runs end bit-identical, no file corrupt."""

import importlib.util
import io
import json
import os
import signal
import sys
from pathlib import Path

import pytest
import torch

import maflow.utils.io
from maflow.cli import main

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "fault_injection.py"
EPOCHS = 3

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the fork launcher needs os.fork")


def _load_script():
    spec = importlib.util.spec_from_file_location("fault_injection", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fault_injection", module)
    spec.loader.exec_module(module)
    return module


fault = _load_script()


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fault")
    torch.set_num_threads(1)
    lines = []
    report = fault.inject(
        fault.ForkLauncher(),
        workdir,
        kills=2,
        evaluate_kills=1,
        epochs=EPOCHS,
        seed=0,
        u_points=0,
        say=lines.append,
    )
    return workdir, report, lines


def test_random_kills_then_resume_end_bit_identical_with_no_corrupt_file(experiment):
    _, report, lines = experiment
    assert report["kills"] >= 2, lines
    assert report["problems"] == [], lines
    assert report["differences"] == [], lines
    assert report["final_epoch"] == EPOCHS and report["passed"]


def _die_while_writing(name: str, nth: int = 1):
    """Makes the ``nth`` atomic write of a file called ``name`` SIGKILL its process half-way."""
    original = maflow.utils.io.atomic_write
    seen = {"n": 0}

    def atomic_write(path, write):
        if Path(path).name != name:
            return original(path, write)
        seen["n"] += 1
        if seen["n"] < nth:
            return original(path, write)
        buffer = io.BytesIO()
        write(buffer)
        content = buffer.getvalue()

        def half_then_die(file):
            file.write(content[: len(content) // 2])
            file.flush()
            os.kill(os.getpid(), signal.SIGKILL)

        return original(path, half_then_die)

    maflow.utils.io.atomic_write = atomic_write


def _in_child_dying(argv, name, nth=1, log=None):
    """Runs ``maflow ARGV`` in a forked child whose ``nth`` write of ``name`` is killed half-way."""
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open(log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            _die_while_writing(name, nth)
            main(argv)
        finally:
            os._exit(3)  # only reached if the kill did not happen
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_kill_half_way_through_a_checkpoint_keeps_the_old_one_and_resume_is_exact(experiment, tmp_path):
    workdir, _, _ = experiment
    root = tmp_path  # --out is the run folder
    # The third latest.pth write is epoch 2's (the first holds the untrained start, the second
    # epoch 1), after its best.pth: best is ahead of latest.
    code = _in_child_dying(fault.train_argv(tmp_path, EPOCHS, False), "latest.pth", nth=3)
    assert code == -signal.SIGKILL
    assert fault.check_files(root, allow_temporaries=True) == []
    assert len(list(root.rglob(".latest.pth.*.tmp"))) == 1  # the half-written temporary, not latest.pth
    assert fault._latest_epoch(root) == 1
    assert main(fault.train_argv(tmp_path, EPOCHS, True)) == 0
    assert fault.check_files(root, allow_temporaries=False) == []  # the stale temporary is gone
    assert fault.compare_runs(workdir / "reference", root) == []


def test_kill_half_way_through_the_results_file_keeps_the_previous_results(experiment, tmp_path):
    workdir, _, _ = experiment
    run = tmp_path / "run"
    run.mkdir(parents=True)
    for part in ("checkpoints", "results.json"):  # a finished training run
        source = workdir / "reference" / part
        target = run / part
        if source.is_dir():
            target.mkdir()
            for file in source.iterdir():
                (target / file.name).write_bytes(file.read_bytes())
        else:
            target.write_text(json.dumps({"training": json.loads(source.read_text())["training"]}))
    before = (run / "results.json").read_bytes()
    code = _in_child_dying(fault.evaluate_argv(run, u_points=0), "results.json")
    assert code == -signal.SIGKILL
    assert (run / "results.json").read_bytes() == before
    assert fault.check_files(run, allow_temporaries=True) == []
    assert main(fault.evaluate_argv(run, u_points=0)) == 0
    assert fault.check_files(run, allow_temporaries=False) == []
    results = json.loads((run / "results.json").read_text())
    assert {"training", "evaluation"} <= set(results)


def _fake_mnist(name, data_dir=None, **kw):
    """A few hundred grey 28x28 "images" with labels: what the VAE and MNF commands read as MNIST."""
    from types import SimpleNamespace

    from tests.train.test_mnf import tiny_mnist

    data = tiny_mnist(num_train=150, num_other=30)
    splits = {"train": data.train, "val": data.val, "test": data.test}
    return SimpleNamespace(
        **vars(data), name="mnist_grey", image_shape=(1, 28, 28), features=784, split=splits.__getitem__
    )


@pytest.mark.parametrize("family", ["vae", "mnf"])
def test_vae_and_mnf_killed_at_random_resume_bit_identical(family, tmp_path, monkeypatch):
    import maflow.data

    monkeypatch.setattr(maflow.data, "load", _fake_mnist)  # the forked children inherit it
    torch.set_num_threads(1)
    lines = []
    report = fault.inject(
        fault.ForkLauncher(), tmp_path, kills=2, evaluate_kills=1, epochs=EPOCHS, seed=1, say=lines.append,
        family=family,
    )  # fmt: skip
    assert report["kills"] >= 2, lines
    assert report["problems"] == [] and report["differences"] == [], (report, lines)
    assert report["final_epoch"] == EPOCHS and report["passed"]
    if family == "vae":
        assert report["evaluate_kills"] + sum("evaluate finished" in e for e in report["events"]) == 1
