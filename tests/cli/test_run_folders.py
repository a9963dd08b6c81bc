"""Run folders from the command line: one writer at a time, our own files only, interrupts that resume.

Real processes on the bundled digits with a tiny MAF. A training that must stay alive while
others try the folder is paused with SIGSTOP once it holds the lock (a stopped process keeps
its lock), so the tests do not depend on timing.
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
import torch

from maflow.cli import main
from maflow.run.folder import LOCK_NAME

TINY = ["--dataset", "digits", "--num-layers", "2", "--hidden-dim", "16", "--hidden-layers", "1"]
TINY += ["--num-samples", "4", "--no-progress", "--lr", "0.01", "--patience", "100"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "MPLBACKEND": "Agg"}


def _argv(out, *extra):
    return ["train", *TINY, "--out", str(out / "digits"), *extra]  # the run folder is --out itself


def _start(argv):
    return subprocess.Popen(
        [sys.executable, "-m", "maflow", *argv],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_lock(child, root, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lock = root / LOCK_NAME
        if lock.is_file() and f'"pid": {child.pid},' in lock.read_text():
            return
        assert child.poll() is None, child.communicate()
        time.sleep(0.05)
    raise AssertionError("the training never took the lock")


def test_a_second_writer_on_a_live_run_is_refused_and_the_first_finishes_intact(tmp_path, capsys):
    root = tmp_path / "digits"
    first = _start(_argv(tmp_path, "--epochs", "3"))
    try:
        _wait_for_lock(first, root)
        first.send_signal(signal.SIGSTOP)  # alive and holding the lock for as long as we need
        attempts = {
            "training": _argv(tmp_path, "--epochs", "3"),
            "--resume": _argv(tmp_path, "--epochs", "3", "--resume"),
            "--overwrite": _argv(tmp_path, "--epochs", "3", "--overwrite"),
            "evaluation": [
                "evaluate",
                "--dataset",
                "digits",
                "--out",
                str(root),
                "--checkpoint",
                "latest",
            ],
        }
        for what, argv in attempts.items():
            capsys.readouterr()
            assert main(argv) == 2, what
            error = capsys.readouterr().err.strip()
            assert f"is in use by process {first.pid}" in error and "\n" not in error, (what, error)
        first.send_signal(signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    training = json.loads((root / "results.json").read_text())["training"]
    assert training["epochs_run"] == 3 and training["steps"] == 45
    log = (root / "logs" / "training.log").read_text()
    assert log.count("training maf on digits") == 1 and "epoch 3 step 45" in log  # no mixed log
    evaluate = [
        "evaluate",
        "--dataset",
        "digits",
        "--out",
        str(root),
        "--num-samples",
        "0",
        "--u-points",
        "0",
    ]
    assert main(evaluate) == 0  # the folder is free again


def _user_files(out):
    root = out / "digits"
    return [
        root / "notes.tmp",
        root / ".plot.tmp",
        root / "checkpoints" / "notes.tmp",
        root / "checkpoints" / ".plot.tmp",
        root / "samples" / ".digits_notes.png.abc123.tmp",  # our temporaries' pattern, not our name
        out / ".latest.pth.abc123.tmp",  # outside the run folder
    ]


def test_user_files_survive_a_run_a_resume_and_an_overwrite(tmp_path):
    files = _user_files(tmp_path)
    ours = tmp_path / "digits" / "checkpoints" / ".latest.pth.deadbeef.tmp"  # a killed run's leftover
    for path in [*files, ours]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    assert main(_argv(tmp_path, "--epochs", "1")) == 0
    assert not ours.exists()
    assert main(_argv(tmp_path, "--epochs", "2", "--resume")) == 0
    assert main(_argv(tmp_path, "--epochs", "1", "--overwrite")) == 0
    assert [path.read_text() for path in files] == ["mine"] * len(files)
    training = json.loads((tmp_path / "digits" / "results.json").read_text())["training"]
    assert training["epochs_run"] == 1  # the overwrite started over


def test_best_checkpoint_without_latest_still_counts_as_a_run(tmp_path, capsys):
    assert main(_argv(tmp_path, "--epochs", "1")) == 0
    root = tmp_path / "digits"
    (root / "checkpoints" / "latest.pth").unlink()  # lost, as a full disk once did
    best = (root / "checkpoints" / "best.pth").read_bytes()
    capsys.readouterr()
    assert main(_argv(tmp_path, "--epochs", "1")) == 2
    error = capsys.readouterr().err
    assert "already holds a run" in error and "best.pth" in error and "--overwrite" in error
    assert main(_argv(tmp_path, "--epochs", "1", "--resume")) == 2
    assert "no checkpoints/latest.pth to resume from" in capsys.readouterr().err
    assert (root / "checkpoints" / "best.pth").read_bytes() == best  # untouched by the refusals
    (root / "checkpoints" / "best.pth").unlink()
    assert main(_argv(tmp_path, "--epochs", "1")) == 2  # the results files alone mark the run too
    assert "results.json" in capsys.readouterr().err
    assert main(_argv(tmp_path, "--epochs", "1", "--overwrite")) == 0


def test_resume_with_overwrite_is_refused_in_one_line_before_anything_is_touched(tmp_path, capsys):
    assert main(_argv(tmp_path, "--epochs", "1")) == 0
    before = sorted(p.name for p in (tmp_path / "digits" / "checkpoints").iterdir())
    capsys.readouterr()
    assert main(_argv(tmp_path, "--epochs", "1", "--resume", "--overwrite")) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "--resume" in error and "--overwrite" in error
    assert sorted(p.name for p in (tmp_path / "digits" / "checkpoints").iterdir()) == before


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_keeps_the_step_prints_the_resume_command_and_the_resume_is_exact(tmp_path, signum):
    # SIGTERM's resume is the same code path (tests/train/test_interrupt.py): only its exit is checked.
    argv = _argv(tmp_path / "stopped", "--epochs", "4")
    child = _start(argv)
    try:
        for line in child.stdout:  # the flow trainer logs each epoch as it ends
            if line.startswith("epoch 1 step"):
                child.send_signal(signum)
                break
        stdout, stderr = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 128 + signum, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert f"stopped by {signal.Signals(signum).name}; kept epoch " in lines[0]
    command = lines[0].split("resume with: ", 1)[1]
    assert command == "python -m maflow " + shlex.join([*argv, "--resume"])
    if signum != signal.SIGINT:
        return
    resumed = subprocess.run(
        [sys.executable, *shlex.split(command)[1:]], env=ENV, capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert main(_argv(tmp_path / "straight", "--epochs", "4")) == 0
    for name in ("best.pth", "latest.pth"):
        a = torch.load(tmp_path / "straight" / "digits" / "checkpoints" / name, weights_only=True)
        b = torch.load(tmp_path / "stopped" / "digits" / "checkpoints" / name, weights_only=True)
        assert a["progress"]["step"] == b["progress"]["step"] == 60
        for key, value in a["model_state"].items():
            assert torch.equal(value, b["model_state"][key]), (name, key)


def test_a_bad_model_option_with_overwrite_is_refused_before_the_run_is_deleted(tmp_path, capsys):
    assert main(_argv(tmp_path, "--epochs", "1")) == 0
    best = tmp_path / "digits" / "checkpoints" / "best.pth"
    before = best.read_bytes()
    capsys.readouterr()
    assert main(_argv(tmp_path, "--epochs", "1", "--overwrite", "--model-option", "bogus=1")) == 2
    assert "bogus" in capsys.readouterr().err
    assert best.read_bytes() == before
