"""Adversarial probe: families of hostile and careless inputs against maflow's command line and library.

Each case runs in its own subprocess with a timeout (seconds each, on a tiny digits model) and
is classified:

* ``ok``: refused with one ``error:`` line and exit status 2 (after argparse's usage lines, if
  any), or the correct value / exit status 0 where the input is legitimate;
* ``traceback``: an uncaught Python traceback;
* ``silent``: exit 0 (or a wrong value) where the input should have been refused;
* ``unclear``: refused, but not in one line with exit status 2, or without the words that say
  what happened;
* ``data-loss``: a file that had to survive (the last good checkpoint, the user's own file) is
  gone, changed or unreadable;
* ``unsafe``: a crafted file ran code;
* ``hang``: the timeout passed;
* ``probe-error``: the probe could not prepare the case (a bug of this script, not of maflow).

Families: ``data`` (damaged data files), ``checkpoints`` (damaged, crafted, foreign),
``processes`` (SIGINT, SIGTERM, SIGKILL and a second writer), ``disk`` (a full disk inside a
checkpoint write, files where run folders belong), ``flags`` (out-of-range, wrong-type,
conflicting) and ``numerics`` (the library on extreme inputs). The table at the end counts the
outcomes per family; the exit status is 1 if any case is not ``ok``.

Usage::

    python scripts/adversarial.py                       # every family
    python scripts/adversarial.py --family flags disk   # some of them
    python scripts/adversarial.py --list                # the cases, without running them

The probe uses the ``src`` of the checkout it sits in, writes only under ``--work`` (a new
temporary folder by default) and reads ``--shared`` (MNIST files), when given, without writing
there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections import Counter
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


# ---------------------------------------------------------------------------------------------
# The families


def data_cases() -> list[Case]:
    def miniboone(change: str | None, name: str = "train.npy", text: bytes | None = None) -> Callable:
        def setup(work: Path, folder: Path) -> None:
            import numpy as np

            data = folder / "data" / "miniboone"
            shutil.rmtree(data, ignore_errors=True)
            data.mkdir(parents=True)
            rng = np.random.RandomState(0)
            for split, rows in (("train", 300), ("val", 60), ("test", 60)):
                np.save(data / f"{split}.npy", rng.randn(rows, 43).astype(np.float32))
            if text is not None:
                (data / name).write_bytes(text)
            elif change is not None:
                x = np.load(data / name)
                scope = {"np": np, "x": x}
                exec(change, scope)
                np.save(data / name, scope["x"], allow_pickle=True)

        return setup

    def prepare(name: str, setup: Callable, *words: str, expect: str = "refuse") -> Case:
        argv = ["data", "prepare", "miniboone", "--data-dir", f"{case_dir('data', name)}/data"]
        return Case("data", name, argv, expect, words, setup)

    cases = [
        prepare("miniboone: a sane synthetic copy (control)", miniboone(None), expect="ok"),
        prepare("miniboone: NaN in train.npy", miniboone("x[5, 3] = np.nan"), "train"),
        prepare("miniboone: 1e300 in float64", miniboone("x = x.astype(np.float64); x[7, 1] = 1e300")),
        prepare("miniboone: wrong width (N, 10)", miniboone("x = x[:, :10]")),
        prepare("miniboone: empty train split", miniboone("x = x[:0]")),
        prepare("miniboone: numeric strings", miniboone("x = x.astype(str)")),
        prepare("miniboone: non-numeric strings", miniboone("x = x.astype(str); x[0, 0] = 'abc'")),
        prepare("miniboone: complex values", miniboone("x = x + 1j")),
        prepare("miniboone: structured dtype", miniboone("x = np.zeros((10, 43), dtype=[('a', 'f4')])")),
        prepare("miniboone: object array (pickle)", miniboone("x = x.astype(object)")),
        prepare("miniboone: 1-D train.npy", miniboone("x = x.ravel()")),
        prepare("miniboone: one distinct train row", miniboone("x = np.repeat(x[:1], 300, 0)")),
        prepare("miniboone: truncated train.npy", miniboone(None, text=b"\x93NUMPY\x01\x00v\x00{'descr'")),
    ]
    csv = prepare("miniboone: CSV text named train.npy", miniboone(None, text=b"a,b\n1,2\n"))
    csv.check = lambda work, result: (
        ("unclear", "calls a text file pickled objects") if "pickled" in result.err else None
    )
    cases.append(csv)
    afile = Case("data", "--data-dir is a file", ["data", "prepare", "mnist", "--data-dir", "{work}/afile"])
    afile.setup = lambda work, folder: (work / "afile").write_text("a file\n")
    afile.words = ("is a file",)
    cases.append(afile)
    cases.append(
        Case(
            "data",
            "unknown data set ../../etc/passwd",
            ["data", "prepare", "../../etc/passwd"],
            words=("unknown",),
        )
    )
    return cases


def case_dir(family: str, name: str) -> str:
    """The folder of a case, as it appears in a command line (``{work}`` is filled in later)."""
    return f"{{work}}/cases/{slug(Case(family, name, []))}"


def checkpoint_cases() -> list[Case]:
    sample = ["sample", "--dataset", "digits", "--num-samples", "2", "--out"]
    evaluate = ["evaluate", "--dataset", "digits", "--u-points", "0", "--num-samples", "2", "--out"]

    def case(name: str, setup: Callable, *words: str, argv=sample) -> Case:
        return Case(
            "checkpoints", name, [*argv, f"{case_dir('checkpoints', name)}/run"], "refuse", words, setup
        )

    cases = [
        case("zero-byte best.pth -> sample", raw_best(b""), "empty"),
        case("folder named best.pth -> sample", raw_best(None), "is a folder"),
        case("folder named best.pth -> evaluate", raw_best(None), "is a folder", argv=evaluate),
        case("text named best.pth -> evaluate", raw_best(b"hello\n"), "corrupt", argv=evaluate),
        case("truncated zip best.pth -> sample", raw_best(b"PK\x03\x04" + b"\0" * 64), "corrupt"),
        case(
            "no features in model_config -> evaluate",
            crafted("ck['model_config'].pop('features')"),
            "features",
            argv=evaluate,
        ),
        case("progress a list -> evaluate", crafted("ck['progress'] = [1, 2, 3]"), "progress", argv=evaluate),
        case("progress epoch a string -> sample", crafted("ck['progress']['epoch'] = 'x'"), "progress"),
        case(
            "NaN weights -> evaluate",
            crafted("[v.fill_(float('nan')) for v in ck['model_state'].values() if v.is_floating_point()]"),
            "NaN",
            argv=evaluate,
        ),
        case(
            "NaN weights -> sample",
            crafted("[v.fill_(float('nan')) for v in ck['model_state'].values() if v.is_floating_point()]"),
            "NaN",
        ),
        case(
            "hidden_features=2**31 (1 KB bomb) -> sample",
            crafted("ck['model_config']['hidden_features'] = 2**31"),
            "2147483648",
        ),
        case(
            "unknown model option -> sample",
            crafted("ck['model_config']['flux_capacitor'] = 1"),
            "flux_capacitor",
        ),
        case("unknown model name -> sample", crafted("ck['model_name'] = 'nosuch'"), "nosuch"),
        case("format version 99 -> sample", crafted("ck['format_version'] = 99"), "newer"),
        case("another family (made) -> sample", crafted("ck['family'] = 'made'"), "made"),
        case("another data set -> evaluate", crafted("ck['dataset'] = 'moons'"), "moons", argv=evaluate),
        case(
            "wrong weight shape -> sample",
            crafted("k = next(iter(ck['model_state'])); ck['model_state'][k] = torch.zeros(3, 3)"),
            "do not fit",
        ),
    ]
    for kind in ("torch", "pickle"):
        name = f"crafted {kind} pickle that runs code -> sample"
        hostile = case(name, evil(kind), "safely")
        hostile.check = lambda work, result, name=name: no_code_ran(
            work, result, slug(Case("checkpoints", name, []))
        )
        cases.append(hostile)
    return cases


def signal_runner(signum: int, after: str = "epoch 1") -> Callable:
    """Trains, sends ``signum`` once the log shows ``after``, then resumes; the resume must succeed."""

    def runner(work: Path, folder: Path, case: Case, timeout: float) -> Result:
        out = folder / "run"
        argv = [
            sys.executable,
            "-m",
            "maflow",
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "30",
            "--patience",
            "30",
        ]
        argv += [*TINY, "--out", str(out)]
        start = time.perf_counter()
        process = subprocess.Popen(
            argv, env=environment(work), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if after in line:
                process.send_signal(signum)
                break
        rest, _ = process.communicate(timeout=timeout)
        first = Result(process.returncode, "", "".join(lines) + (rest or ""), time.perf_counter() - start)
        resumed = maflow(
            work, "train", "--dataset", "digits", "--epochs", "3", *TINY, "--out", out, "--resume"
        )
        case.notes.append((first, resumed))
        return Result(first.code, "", first.err + "\n--- resume ---\n" + resumed.stderr, first.seconds)

    return runner


def signal_check(expected_code: int) -> Callable:
    def check(work: Path, result: Result) -> tuple[str, str] | None:
        head = result.err.split("--- resume ---")[0]
        if result.code == 0:
            return "silent", "the signal did not stop the run"
        if result.code != expected_code or "resume with" not in head:
            return (
                "unclear",
                f"exit {result.code}: {head.strip().splitlines()[-1][:120] if head.strip() else ''}",
            )
        if "Traceback" in result.err:
            return "traceback", "on resume"
        return "ok", [line for line in head.splitlines() if "resume with" in line][0][:160]

    return check


def kill_and_resume(work: Path, folder: Path, case: Case, timeout: float) -> Result:
    out = folder / "run"
    argv = [
        sys.executable,
        "-m",
        "maflow",
        "train",
        "--dataset",
        "digits",
        "--epochs",
        "30",
        "--patience",
        "30",
    ]
    process = subprocess.Popen(
        [*argv, *TINY, "--out", str(out)],
        env=environment(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "epoch 2" in line:
            process.kill()
            break
    process.communicate(timeout=timeout)
    start = time.perf_counter()
    resumed = maflow(work, "train", "--dataset", "digits", "--epochs", "4", *TINY, "--out", out, "--resume")
    return Result(resumed.returncode, resumed.stdout, resumed.stderr, time.perf_counter() - start)


def second_writer(work: Path, folder: Path, case: Case, timeout: float) -> Result:
    out = folder / "run"
    argv = [
        sys.executable,
        "-m",
        "maflow",
        "train",
        "--dataset",
        "digits",
        "--epochs",
        "200",
        "--patience",
        "200",
    ]
    first = subprocess.Popen(
        [*argv, *TINY, "--out", str(out)],
        env=environment(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert first.stdout is not None
    for line in first.stdout:
        if "epoch 1" in line:
            break
    start = time.perf_counter()
    second = maflow(work, "train", "--dataset", "digits", "--epochs", "2", *TINY, "--out", out, "--overwrite")
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=timeout)
    return Result(second.returncode, second.stdout, second.stderr, time.perf_counter() - start)


def process_cases() -> list[Case]:
    return [
        Case(
            "processes",
            "SIGINT during training, then --resume",
            [],
            run=signal_runner(signal.SIGINT),
            check=signal_check(130),
        ),
        Case(
            "processes",
            "SIGTERM during training, then --resume",
            [],
            run=signal_runner(signal.SIGTERM),
            check=signal_check(143),
        ),
        Case("processes", "SIGKILL during training, then --resume", [], "ok", run=kill_and_resume),
        Case(
            "processes",
            "--overwrite while another training writes there",
            [],
            "refuse",
            ("in use",),
            run=second_writer,
        ),
        Case(
            "processes",
            "--resume and --overwrite together",
            ["train", "--dataset", "digits", *TINY, "--out", "{work}/x", "--resume", "--overwrite"],
            words=("pass only one",),
        ),
    ]


DISK_FULL = textwrap.dedent(
    """
    import errno, os, sys
    import torch
    import maflow.utils.io as io
    from maflow.cli import main

    class Full:
        def __init__(self, file): self.file, self.room = file, 300
        def write(self, data):
            if len(data) > self.room: raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            self.room -= len(data); return self.file.write(data)
        def __getattr__(self, name): return getattr(self.file, name)

    class Torch:
        calls = 0
        def save(self, obj, f, *a, **k):
            Torch.calls += 1
            return torch.save(obj, Full(f) if Torch.calls >= int(sys.argv[1]) else f, *a, **k)
        def __getattr__(self, name): return getattr(torch, name)

    io.torch = Torch()
    sys.exit(main(sys.argv[2:]))
    """
)


def last_checkpoint_kept(work: Path, result: Result, out: str) -> tuple[str, str] | None:
    import torch

    for path in sorted((work / out).rglob("*.pth")):
        try:
            torch.load(path, weights_only=True)
        except Exception as error:  # the last good checkpoint must load
            return "data-loss", f"{path.name} no longer loads: {error}"
    if list((work / out).rglob(".*.tmp")):
        return "data-loss", "temporaries left behind"
    return None


def odd_folder(relative: str, kind: str) -> Callable:
    def setup(work: Path, folder: Path) -> None:
        target = folder / "out" / relative
        shutil.rmtree(folder / "out", ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        if kind == "file":
            target.write_text("the user's file\n")
        else:
            (target / "inside").mkdir(parents=True)

    return setup


def odd_folder_kept(relative: str, kind: str, name: str) -> Callable:
    def check(work: Path, result: Result) -> tuple[str, str] | None:
        target = work / "cases" / slug(Case("disk", name, [])) / "out" / relative
        intact = target.read_text() == "the user's file\n" if kind == "file" else (target / "inside").is_dir()
        return None if intact else ("data-loss", f"the user's {kind} {relative} was changed")

    return check


def disk_cases() -> list[Case]:
    cases = []
    for fail_from, when in ((1, "the first checkpoint"), (4, "epoch 2's checkpoint")):
        out = f"full-{fail_from}"
        argv = [
            DISK_FULL,
            fail_from,
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "3",
            *TINY,
            "--out",
            f"{{work}}/{out}",
        ]
        case = Case(
            "disk",
            f"disk full inside torch.save at {when}",
            argv,
            python=True,
            words=("No space left", "free there"),
        )
        case.check = lambda work, result, out=out: last_checkpoint_kept(work, result, out)
        cases.append(case)
    for relative, kind in (
        ("checkpoints", "file"),
        ("tensorboard", "file"),
        ("logs", "file"),
        ("logs/training.log", "folder"),
        ("results.json", "folder"),
        ("checkpoints/latest.pth", "folder"),
    ):
        name = f"{relative} is a {kind}"
        argv = [
            "train",
            "--dataset",
            "digits",
            "--epochs",
            "1",
            *TINY,
            "--out",
            f"{case_dir('disk', name)}/out",
        ]
        cases.append(
            Case(
                "disk",
                name,
                argv,
                setup=odd_folder(relative, kind),
                check=odd_folder_kept(relative, kind, name),
            )
        )
    afile = Case(
        "disk", "--out is a file", ["train", "--dataset", "digits", *TINY, "--out", "{work}/outfile"]
    )
    afile.setup = lambda work, folder: (work / "outfile").write_text("mine\n")
    afile.check = lambda work, result: (
        None if (work / "outfile").read_text() == "mine\n" else ("data-loss", "--out file changed")
    )
    cases.append(afile)
    return cases


def flag_cases() -> list[Case]:
    train = ["train", "--dataset", "digits", *TINY, "--epochs", "1", "--out", "{work}/flags"]
    made = ["made", "train", "--dataset", "dna", "--out", "{work}/flags-made"]
    table = [
        ("train --lr -1e-3", [*train, "--lr", "-1e-3"], "positive"),
        ("train --lr nan", [*train, "--lr", "nan"], "finite"),
        ("train --lr inf", [*train, "--lr", "inf"], "finite"),
        ("train --weight-decay nan", [*train, "--weight-decay", "nan"], "finite"),
        ("train --grad-clip nan", [*train, "--grad-clip", "nan"], "finite"),
        ("train --seed 2**64", [*train, "--seed", str(2**64)], "whole number"),
        ("train --seed 1.5", [*train, "--seed", "1.5"], "whole number"),
        ("train --epochs ten", [*train, "--epochs", "ten"], "invalid int"),
        ("train --epochs -1", [*train, "--epochs", "-1"], "--epochs"),
        ("train --batch-size 0", [*train, "--batch-size", "0"], "--batch-size"),
        ("train --hidden-dim 0", [*train, "--hidden-dim", "0"], "--hidden-features"),
        ("train --activation foo", [*train, "--activation", "foo"], "foo"),
        ("train --model nosuch", [*train, "--model", "nosuch"], "nosuch"),
        ("train --model-option features=10", [*train, "--model-option", "features=10"], "not a model option"),
        (
            "train --model-option context_features=3",
            [*train, "--model-option", "context_features=3"],
            "not a model option",
        ),
        (
            "train --model-option num_layers=true",
            [*train, "--model-option", "num_layers=true"],
            "whole number",
        ),
        ("train --model-option nosuch=1", [*train, "--model-option", "nosuch=1"], "nosuch"),
        (
            "train nsf-cl num_bins=0",
            [*train, "--model", "nsf-cl", "--model-option", "num_bins=0"],
            "num_bins",
        ),
        (
            "train nsf-cl tail_bound=-1",
            [*train, "--model", "nsf-cl", "--model-option", "tail_bound=-1"],
            "tail_bound",
        ),
        (
            "train made-mog num_components=0",
            [*train, "--model", "made-mog", "--model-option", "num_components=0"],
            "num_components",
        ),
        ("train --set lr=abc", [*train, "--set", "lr=abc"], "lr"),
        (
            "train --dataset ../../etc/passwd",
            ["train", "--dataset", "../../etc/passwd", "--out", "{work}/flags"],
            "unknown",
        ),
        ("made train --lr nan", [*made, "--lr", "nan"], "finite"),
        ("made train --weight-decay nan", [*made, "--weight-decay", "nan"], "finite"),
        ("made train --lr -1e-3", [*made, "--lr", "-1e-3"], "lr > 0"),
        ("toy --lr nan", ["toy", "--flow", "maf", "--lr", "nan", "--out", "{work}/toy"], "finite"),
        ("toy --steps -1", ["toy", "--flow", "maf", "--steps", "-1", "--out", "{work}/toy"], "--steps"),
        (
            "vae train --set train.epochs=abc",
            ["vae", "train", "--set", "train.epochs=abc", "--out", "{work}/vae"],
            "epochs",
        ),
        (
            "vae train --seed 2**64",
            ["vae", "train", "--seed", str(2**64), "--out", "{work}/vae"],
            "whole number",
        ),
        ("mnf train --lr inf", ["mnf", "train", "--lr", "inf", "--out", "{work}/mnf"], "finite"),
        (
            "sample --num-samples 0",
            ["sample", "--dataset", "digits", "--num-samples", "0", "--out", "{work}/none"],
            "--num-samples",
        ),
    ]
    return [Case("flags", name, argv, words=(word,)) for name, argv, word in table]


NUMERICS = {
    "MAF log_prob at -3e38 (float32) is -inf, never NaN": """
        m = build_model('maf', 2, num_layers=2, hidden_features=8).eval()
        v = m.log_prob(torch.full((2, 2), -3e38))
        ok = not torch.isnan(v).any()
    """,
    "MAF MoG log_prob at 1e30 is -inf, never NaN": """
        m = build_model('maf-mog', 2, num_layers=1, hidden_features=8).eval()
        v = m.log_prob(torch.full((2, 2), 1e30))
        ok = not torch.isnan(v).any()
    """,
    "IAF log_prob at 60*(1,-1,0.5) is finite or -inf": """
        m = build_model('iaf', 3).eval()
        v = m.log_prob(60 * torch.tensor([[1.0, -1.0, 0.5]]))
        ok = not torch.isnan(v).any()
    """,
    "a one-row batch in training mode is refused": """
        m = build_model('maf', 3, num_layers=1, hidden_features=8, batch_norm=True).train()
        try:
            m.log_prob(torch.zeros(1, 3)); ok = False
        except ValueError:
            ok = True
    """,
    "the bounded spline refuses inputs outside its interval": """
        from maflow.transforms.spline import rational_quadratic_spline
        w = torch.zeros(1, 1, 4); h = torch.zeros(1, 1, 4); d = torch.zeros(1, 1, 5)
        try:
            y, ld = rational_quadratic_spline(torch.full((1, 1), 5.0), w, h, d)
            ok = bool(torch.isfinite(ld).all())
        except ValueError:
            ok = True
    """,
    "all-NaN samples are one NumericalError": """
        from maflow.errors import NumericalError
        from maflow.run.samples import save_samples
        from maflow.run.paths import RunPaths
        from maflow.data import load
        class M(torch.nn.Module):
            def sample(self, shape): return torch.full((*shape, 64), float('nan'))
        try:
            save_samples(M(), load('digits'), RunPaths(sys.argv[1], 'digits'), 4); ok = False
        except NumericalError:
            ok = True
    """,
}


def numeric_cases() -> list[Case]:
    prelude = "import sys, torch\nfrom maflow.models.registry import build_model\ntorch.manual_seed(0)\n"
    cases = []
    for name, body in NUMERICS.items():
        code = prelude + textwrap.dedent(body) + "\nprint('OK' if ok else 'WRONG')\n"
        cases.append(Case("numerics", name, [code, "{work}/numerics"], "ok", ("OK",), python=True))
    return cases


def all_cases() -> list[Case]:
    return [
        *data_cases(),
        *checkpoint_cases(),
        *process_cases(),
        *disk_cases(),
        *flag_cases(),
        *numeric_cases(),
    ]


# ---------------------------------------------------------------------------------------------


def table(rows: list[tuple[Case, str, str, float]]) -> str:
    counts = {family: Counter() for family in FAMILIES}
    for case, outcome, _, _ in rows:
        counts[case.family][outcome] += 1
    header = "| family | " + " | ".join(OUTCOMES) + " | cases |"
    lines = [header, "|" + "---|" * (len(OUTCOMES) + 2)]
    for family in FAMILIES:
        if counts[family]:
            cells = " | ".join(str(counts[family][o]) for o in OUTCOMES)
            lines.append(f"| {family} | {cells} | {sum(counts[family].values())} |")
    total = Counter()
    for c in counts.values():
        total.update(c)
    lines.append("| all | " + " | ".join(str(total[o]) for o in OUTCOMES) + f" | {sum(total.values())} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--work", help="scratch folder (default: a new temporary folder, removed at the end)")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds per case before it counts as a hang"
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--json", help="also write every case's outcome to this file")
    args = parser.parse_args(argv)
    cases = [case for case in all_cases() if case.family in args.family]
    if args.list:
        for case in cases:
            print(f"{case.family:12s} {case.name}")
        return 0
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="maflow-adversarial-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for case in cases:
            outcome, note, seconds = run_case(case, work, args.timeout)
            rows.append((case, outcome, note, seconds))
            print(f"{outcome:10s} {seconds:5.1f}s  {case.family:11s} {case.name}: {note}", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rows))
    if args.json:
        records = [
            {"family": c.family, "case": c.name, "outcome": o, "note": n, "seconds": round(s, 2)}
            for c, o, n, s in rows
        ]
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    return 0 if all(outcome == "ok" for _, outcome, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
