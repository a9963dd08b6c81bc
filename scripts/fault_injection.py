"""Fault injection: SIGKILL a small training run at random moments, resume it, compare with a clean run.

``--family flow`` (the default) trains a tiny MAF on the bundled digits twice:

1. ``reference``: uninterrupted (``maflow train``, then ``maflow evaluate``);
2. ``killed``: the same command, killed with SIGKILL after a random (seeded) delay, again and
   again, each time restarted with ``--resume``, until ``--kills`` kills have landed; then it
   runs to the end. Each delay is drawn within one phase of the run, timed on the reference:
   start-up (imports, data, resume; 20% of kills), training (epochs and checkpoint writes,
   60%) or the final steps (validation, samples, results; 20%), counting from the line
   ``maflow train`` logs as that phase begins. ``maflow evaluate`` is then killed
   ``--evaluate-kills`` times at random moments and finally run to the end.

After every kill each file of the run must load (checkpoints with ``weights_only=True``, JSON,
``.npy`` without pickle, PNG up to its end chunk); temporary files of interrupted atomic writes
may remain until the next start, which removes them. At the end the killed run's checkpoints
(weights, optimiser, RNG states, progress), samples, training and evaluation results must equal
the reference's bit for bit, and no temporary file may remain. Exit status 0 means all held.

``--family vae`` and ``--family mnf`` do the same with a tiny VAE (``maflow vae train``, then
``maflow vae evaluate``) and a tiny MNF LeNet (``maflow mnf train``, which scores the test split
at its end) on MNIST from ``--data-dir``; their kills are timed from the lines the one Trainer
logs as training starts and ends. What each family compares is in scripts/fault_families.py.

Usage::

    python scripts/fault_injection.py --kills 5 --seed 0            # real processes
    python scripts/fault_injection.py --launcher fork --kills 3      # forked children: cheap
    python scripts/fault_injection.py --family vae --data-dir /work/shared/data --kills 3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(
    0, str(Path(__file__).resolve().parent)
)  # scripts/fault_families.py, also when loaded by path
from fault_families import (  # noqa: E402
    Family,
    compare_flow_runs,
    families,
    flow_evaluate_argv,
    flow_train_argv,
)
from fault_launchers import ForkLauncher, SubprocessLauncher  # noqa: E402

PNG_START, PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"
# Shares of the kills timed from the launch (start-up, data, resume), from the family's marker
# (epochs and checkpoint writes) and from its end marker (final validation, samples, results).
PHASES = {"start-up": 0.2, "training": 0.6, "final steps": 0.2}
# The flow family's commands and checks under their older names (tests/train/test_fault_injection.py).
train_argv, evaluate_argv, compare_runs = flow_train_argv, flow_evaluate_argv, compare_flow_runs


def run_to_end(launcher, argv: list[str], log: Path) -> tuple[int, float]:
    start = time.perf_counter()
    code = launcher.start(argv, log).wait()
    return code, time.perf_counter() - start


def run_and_kill(
    launcher, argv: list[str], log: Path, delay: float, marker: tuple[Path, bytes] | None = None
) -> tuple[bool, int, float | None]:
    """Starts ``argv`` and SIGKILLs it ``delay`` seconds later; returns (killed, exit code, t_marker).

    With ``marker=(file, text)`` the delay counts from the moment ``text`` appears in ``file``
    (beyond its size at the start), so that kills aim at training rather than at interpreter
    start-up; ``t_marker`` is when that happened, in seconds after the start.
    """
    offset = marker[0].stat().st_size if marker and marker[0].exists() else 0
    started = time.perf_counter()
    child = launcher.start(argv, log)
    deadline = None if marker else started + delay
    seen = None
    while deadline is None or time.perf_counter() < deadline:
        if child.poll() is not None:
            return False, child.returncode, seen
        if deadline is None and marker[0].exists():
            with open(marker[0], "rb") as file:
                file.seek(offset)
                if marker[1] in file.read():
                    seen = time.perf_counter() - started
                    deadline = time.perf_counter() + delay
        time.sleep(0.005)
    child.kill()
    return True, child.wait(), seen


def watch_markers(launcher, argv: list[str], log: Path, file: Path, markers: tuple) -> dict:
    """Runs ``argv`` to the end; returns when each marker appeared in ``file`` and when it ended."""
    started = time.perf_counter()
    child = launcher.start(argv, log)
    times = {}
    while child.poll() is None:
        text = file.read_bytes() if file.exists() else b""
        for marker in markers:
            if marker in text and marker not in times:
                times[marker] = time.perf_counter() - started
        time.sleep(0.005)
    text = file.read_bytes() if file.exists() else b""
    for marker in markers:  # a marker written in the last poll interval
        times.setdefault(marker, time.perf_counter() - started) if marker in text else None
    return {**times, "end": time.perf_counter() - started, "exit": child.returncode}


def check_files(root: Path, allow_temporaries: bool) -> list[str]:
    """Problems with the files under ``root``: anything that does not load, and stray temporaries."""
    from maflow.utils.io import load_checkpoint

    problems = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root)
        try:
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                if not allow_temporaries:
                    problems.append(f"{name}: temporary file left behind")
            elif path.suffix == ".pth":
                load_checkpoint(path)
            elif path.suffix == ".json":
                json.loads(path.read_text())
            elif path.suffix == ".npy":
                np.load(path, allow_pickle=False)
            elif path.suffix == ".png":
                content = path.read_bytes()
                if not (content.startswith(PNG_START) and content.endswith(PNG_END)):
                    problems.append(f"{name}: truncated PNG")
            elif path.suffix == ".txt":
                path.read_text(encoding="utf-8")
        except Exception as error:  # noqa: BLE001 (every way of not loading is a finding)
            problems.append(f"{name}: {type(error).__name__}: {str(error)[:200]}")
    return problems


def _latest_epoch(root: Path) -> int:
    from maflow.errors import CheckpointError
    from maflow.utils.io import load_checkpoint

    try:
        return int(load_checkpoint(root / "checkpoints" / "latest.pth")["progress"]["epoch"])
    except CheckpointError:
        return 0


def inject(
    launcher,
    workdir: Path,
    kills: int,
    evaluate_kills: int,
    epochs: int,
    seed: int,
    u_points: int = 200,
    say=print,
    family: str | Family = "flow",
    data_dir=None,
) -> dict:
    """Runs the whole experiment in ``workdir``; returns a report whose ``passed`` says it all."""
    if isinstance(family, str):
        family = families(data_dir, u_points)[family]
    rng = random.Random(seed)
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    report = {"kills": 0, "evaluate_kills": 0, "events": [], "problems": [], "family": family.name}

    def log_of(out: Path) -> Path:
        return family.root(out) / "logs" / "training.log"

    # The reference, timed by phase: two more runs killed right at each marker would be costly,
    # so one run is watched and the marker times are read off as they appear.
    reference = family.root(workdir / "reference")
    markers = (family.marker, family.end_marker)
    argv = family.train_argv(workdir / "reference", epochs, False)
    times = watch_markers(launcher, argv, logs / "ref", log_of(workdir / "reference"), markers)
    if times["exit"] != 0 or family.marker not in times or family.end_marker not in times:
        raise RuntimeError(f"the reference run failed (exit {times['exit']}); see {logs / 'ref'}")
    phase_seconds = {
        "start-up": times[family.marker],
        "training": times[family.end_marker] - times[family.marker],
        "final steps": times["end"] - times[family.end_marker],
    }
    say(
        f"{family.name} reference run {times['end']:.1f} s: "
        + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phase_seconds.items())
    )
    out, root = _kill_rounds(launcher, workdir, family, kills, epochs, rng, phase_seconds, report, say)
    if family.evaluate_argv is None:
        report["problems"] += check_files(root, allow_temporaries=False)
        report["differences"] = family.compare(reference, root, False)
    else:
        _kill_evaluations(launcher, workdir, family, out, root, evaluate_kills, rng, report, say)
    report["final_epoch"] = _latest_epoch(root)
    report["passed"] = report["kills"] >= kills and not report["problems"] and not report["differences"]
    return report


def _kill_rounds(launcher, workdir, family, kills, epochs, rng, phase_seconds, report, say):
    """Kills and resumes training until ``kills`` kills have landed; returns the last round's folders.

    A round kills and resumes one run until it ends. An attempt that ends before its kill (the
    machine got faster) ends the round; a new round in a fresh directory makes up the kills.
    Kills in the final steps come last: after one of them no training is left to kill.
    """
    logs = workdir / "logs"
    plan = rng.choices(list(PHASES), weights=list(PHASES.values()), k=kills)
    plan.sort(key=lambda phase: phase == "final steps")
    round_number = 0
    while report["kills"] < kills or round_number == 0:
        round_number += 1
        out = workdir / f"killed{round_number}"
        root = family.root(out)
        attempt, finished = 0, False
        while not finished:
            done = _latest_epoch(root) / epochs
            argv = family.train_argv(out, epochs, attempt > 0)
            phase = plan[min(report["kills"], kills - 1)]
            if phase == "training" and done >= 1:
                phase = "final steps"
            budget = phase_seconds[phase] * ((1 - done) if phase == "training" else 1)
            delay = rng.uniform(0.0, 0.9 * budget)
            marker = {"start-up": None, "training": family.marker, "final steps": family.end_marker}[phase]
            if report["kills"] >= kills:
                phase, delay, marker = "", math.inf, None
            log = root / "logs" / "training.log"
            killed, code, _ = run_and_kill(
                launcher, argv, logs / out.name, delay, (log, marker) if marker else None
            )
            attempt += 1
            epoch = _latest_epoch(root)
            if killed:
                report["kills"] += 1
                problems = check_files(root, allow_temporaries=True) if root.exists() else []
                report["problems"] += [f"after kill {report['kills']}: {p}" for p in problems]
                temporaries = len(list(root.rglob(".*.tmp"))) if root.exists() else 0
                event = (
                    f"train kill {report['kills']}: {delay:.2f} s into {phase}, latest.pth at epoch {epoch}"
                )
                event += f", {temporaries} temporary file(s) left, {len(problems)} unreadable"
            else:
                finished = True
                event = f"{out.name}: attempt {attempt} ran to the end (exit {code}) at epoch {epoch}"
                if code != 0:
                    report["problems"].append(f"{out.name}: the last training attempt exited with {code}")
            report["events"].append(event)
            say(event)
        if report["kills"] < kills:  # this round ended early: check it now, the last one below
            found = family.compare(family.root(workdir / "reference"), root, False)
            report["problems"] += [f"{out.name}: {d}" for d in found]
            report["problems"] += [f"{out.name}: {p}" for p in check_files(root, allow_temporaries=False)]
    report["rounds"] = round_number
    return out, root


def _kill_evaluations(launcher, workdir, family, out, root, evaluate_kills, rng, report, say) -> None:
    """Evaluates the reference, then kills the killed run's evaluation ``evaluate_kills`` times and
    evaluates it to the end; its results file must keep its training section throughout.
    """
    logs = workdir / "logs"
    code, evaluate_seconds = run_to_end(launcher, family.evaluate_argv(workdir / "reference"), logs / "ref")
    if code != 0:
        raise RuntimeError(f"evaluating the reference failed (exit {code})")
    for _ in range(evaluate_kills):
        delay = rng.uniform(0.0, 0.9 * evaluate_seconds)
        killed, code, _ = run_and_kill(launcher, family.evaluate_argv(out), logs / out.name, delay)
        problems = check_files(root, allow_temporaries=True)
        summary = json.loads((root / family.results).read_text()) if not problems else {}
        if "training" not in summary:
            problems.append(f"{family.results} lost its training section")
        report["problems"] += [f"after evaluate kill: {p}" for p in problems]
        report["evaluate_kills"] += killed
        event = (
            f"evaluate {'killed' if killed else 'finished'} after {delay:.2f} s; {len(problems)} problem(s)"
        )
        report["events"].append(event)
        say(event)
    code, _ = run_to_end(launcher, family.evaluate_argv(out), logs / out.name)
    if code != 0:
        report["problems"].append(f"the final evaluation exited with {code}")
    report["problems"] += check_files(root, allow_temporaries=False)
    reference = family.root(workdir / "reference")
    report["differences"] = family.compare(reference, root, code == 0)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs of the training run")
    parser.add_argument("--evaluate-kills", type=int, default=2, help="SIGKILLs of maflow evaluate")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seeds the kill times")
    parser.add_argument("--u-points", type=int, default=200, help="maflow evaluate --u-points (figures)")
    parser.add_argument("--launcher", choices=["subprocess", "fork"], default="subprocess")
    parser.add_argument("--family", choices=["flow", "vae", "mnf"], default="flow", help="what to train")
    parser.add_argument("--data-dir", help="where vae and mnf find MNIST (default: $MAFLOW_DATA)")
    parser.add_argument("--workdir", type=Path, help="keep the runs here (default: a temporary directory)")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    launcher = ForkLauncher() if args.launcher == "fork" else SubprocessLauncher()
    with tempfile.TemporaryDirectory(prefix="maflow-fault-") as scratch:
        workdir = args.workdir or Path(scratch)
        start = time.perf_counter()
        report = inject(
            launcher,
            workdir,
            args.kills,
            args.evaluate_kills,
            args.epochs,
            args.seed,
            args.u_points,
            family=args.family,
            data_dir=args.data_dir,
        )
        report["wall_seconds"] = round(time.perf_counter() - start, 1)
    for line in report["problems"] + report["differences"]:
        print(f"FAIL {line}")
    print(
        f"{'PASS' if report['passed'] else 'FAIL'} ({report['family']}): {report['kills']} training kills, "
        f"{report['evaluate_kills']} evaluation kills, final epoch {report['final_epoch']}; "
        f"checkpoints, samples and results {'equal' if not report['differences'] else 'DIFFER from'} "
        f"the uninterrupted run's bit for bit; {len(report['problems'])} file problem(s); "
        f"{report['wall_seconds']} s"
    )
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
