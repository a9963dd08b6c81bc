"""The machinery of ``scripts/adversarial.py``: cases, running and judging them, and the fixtures.

A :class:`Case` is one hostile input; :func:`run_case` runs it in its own subprocess and
classifies the outcome (see ``scripts/adversarial.py`` for the outcomes and families).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUTCOMES = ("ok", "traceback", "silent", "unclear", "data-loss", "unsafe", "hang", "probe-error")
FAMILIES = ("data", "checkpoints", "processes", "disk", "flags", "numerics")
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


@dataclass
class Result:
    code: int | None
    out: str
    err: str
    seconds: float


@dataclass
class Case:
    """One hostile input: prepare the files, run ``argv`` (a maflow command or ``python -c``), judge.

    ``expect`` is ``"refuse"`` (one error line, exit 2, holding ``words``) or ``"ok"`` (exit 0,
    ``words`` in the output). ``check(work, result)`` may return an outcome of its own
    (``data-loss``, ``silent``, ``unsafe``) and a note.
    """

    family: str
    name: str
    argv: list
    expect: str = "refuse"
    words: tuple = ()
    setup: Callable | None = None
    check: Callable | None = None
    python: bool = False
    run: Callable | None = None  # a custom runner(work, case) -> Result (signals)
    notes: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Running and judging


def environment(work: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MAFLOW_CACHE"] = str(work / "cache")
    env["OMP_NUM_THREADS"] = "1"
    env.pop("MAFLOW_DATA", None)
    return env


def command(case: Case, work: Path) -> list[str]:
    argv = [str(a).replace("{work}", str(work)) for a in case.argv]
    if case.python:
        return [sys.executable, "-c", argv[0], *argv[1:]]
    return [sys.executable, "-m", "maflow", *argv]


def execute(case: Case, work: Path, timeout: float) -> Result:
    start = time.perf_counter()
    completed = subprocess.run(
        command(case, work), env=environment(work), capture_output=True, text=True, timeout=timeout, cwd=work
    )
    return Result(completed.returncode, completed.stdout, completed.stderr, time.perf_counter() - start)


def judge(case: Case, work: Path, result: Result) -> tuple[str, str]:
    text = result.out + result.err
    if "Traceback (most recent call last)" in text:
        last = [line for line in result.err.strip().splitlines() if line.strip()]
        return "traceback", (last[-1] if last else "")[:160]
    if case.check is not None:
        verdict = case.check(work, result)
        if verdict is not None:
            return verdict
    lines = [line for line in result.err.strip().splitlines() if line.strip()]
    if case.expect == "refuse":
        if result.code == 0:
            return "silent", "exit 0"
        one_line = (
            bool(lines)
            and "error:" in lines[-1]
            and all(line.startswith(("usage:", " ")) for line in lines[:-1])
        )
        if result.code != 2 or not one_line:
            return "unclear", f"exit {result.code}: {(lines[-1] if lines else '')[:120]}"
        missing = [word for word in case.words if word not in lines[-1]]
        if missing:
            return "unclear", f"the line lacks {missing}: {lines[-1][:120]}"
        return "ok", lines[-1][:160]
    if result.code != 0:
        return (
            "silent" if case.python else "unclear"
        ), f"exit {result.code}: {(lines[-1] if lines else '')[:120]}"
    missing = [word for word in case.words if word not in text]
    if missing:
        return "silent", f"output lacks {missing}: {text.strip()[-120:]}"
    return "ok", (text.strip().splitlines() or [""])[-1][:160]


def run_case(case: Case, work: Path, timeout: float) -> tuple[str, str, float]:
    folder = work / "cases" / slug(case)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        if case.setup is not None:
            case.setup(work, folder)
        result = case.run(work, folder, case, timeout) if case.run else execute(case, work, timeout)
    except subprocess.TimeoutExpired:
        return "hang", f"no answer after {timeout:.0f} s", timeout
    except Exception as error:  # the probe's own preparation failed: say so, and go on
        return "probe-error", f"{type(error).__name__}: {error}"[:160], 0.0
    return (*judge(case, work, result), result.seconds)


def slug(case: Case) -> str:
    return "".join(c if c.isalnum() else "-" for c in f"{case.family}-{case.name}")[:80]


def maflow(work: Path, *argv, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "maflow", *map(str, argv)],
        env=environment(work),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=work,
    )


# ---------------------------------------------------------------------------------------------
# Fixtures: one tiny trained digits run, copied for every case that damages it


def reference_run(work: Path) -> Path:
    ref = work / "reference"
    if not (ref / "checkpoints" / "best.pth").is_file():  # --out is the run folder
        done = maflow(
            work, "train", "--dataset", "digits", "--epochs", "2", "--lr", "1e-2", *TINY, "--out", ref
        )
        if done.returncode != 0:
            raise SystemExit(f"the reference training failed:\n{done.stderr[-2000:]}")
    return ref


def run_copy(work: Path, folder: Path) -> Path:
    target = folder / "run"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(reference_run(work), target)
    return target


def checkpoints(folder: Path) -> Path:
    return folder / "run" / "checkpoints"


def crafted(change: str) -> Callable:
    """A setup that copies the reference run and applies ``change`` (Python on ``ck``) to its best.pth."""

    def setup(work: Path, folder: Path) -> None:
        import torch

        run_copy(work, folder)
        path = checkpoints(folder) / "best.pth"
        ck = torch.load(path, weights_only=True)
        exec(change, {"ck": ck, "torch": torch, "float": float})
        torch.save(ck, path)

    return setup


def raw_best(content: bytes | None) -> Callable:
    def setup(work: Path, folder: Path) -> None:
        run_copy(work, folder)
        path = checkpoints(folder) / "best.pth"
        path.unlink()
        if content is None:
            path.mkdir()
        else:
            path.write_bytes(content)

    return setup


def evil(kind: str) -> Callable:
    def setup(work: Path, folder: Path) -> None:
        import pickle

        import torch

        run_copy(work, folder)
        marker = folder / "PWNED"
        payload = {"model_state": _Exploit(str(marker)), "format_version": 1}
        path = checkpoints(folder) / "best.pth"
        if kind == "torch":
            torch.save(payload, path)
        else:
            path.write_bytes(pickle.dumps(payload, protocol=2))

    return setup


class _Exploit:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def no_code_ran(work: Path, result: Result, folder_name: str) -> tuple[str, str] | None:
    if (work / "cases" / folder_name / "PWNED").exists():
        return "unsafe", "the crafted pickle ran code"
    return None
