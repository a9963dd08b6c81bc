"""Signals during training: the run says what stopped it, what was kept and how to resume; resuming works."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
TINY = [
    "--num-layers",
    "1",
    "--hidden-dim",
    "8",
    "--hidden-layers",
    "1",
    "--no-progress",
    "--num-samples",
    "4",
]


def _maflow(*argv) -> list[str]:
    return [sys.executable, "-m", "maflow", *map(str, argv)]


def _environment(tmp_path) -> dict:
    env = dict(os.environ, MAFLOW_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_during_training_says_what_was_kept_and_how_to_resume(tmp_path, signum):
    out = tmp_path / "out"
    env = _environment(tmp_path)
    train = _maflow("train", "--dataset", "digits", *TINY, "--patience", "100", "--out", out)
    process = subprocess.Popen(
        [*train, "--epochs", "100"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("epoch "):  # "epoch 1 step ...": the first epoch's checkpoint exists
            process.send_signal(signum)
            break
    rest, _ = process.communicate(timeout=300)
    output = "".join(seen) + rest
    assert process.returncode == 128 + signum, output
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert f"stopped by {name}" in last and "kept epoch" in last and "resume with:" in last, last
    assert "--resume" in last.split("resume with:")[1]
    kept = torch.load(out / "checkpoints" / "latest.pth", weights_only=True)
    assert kept["progress"]["epoch"] >= 1
    resumed = subprocess.run(
        [*train, "--epochs", str(kept["progress"]["epoch"] + 1), "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
