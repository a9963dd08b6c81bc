"""Hostile runs for ``scripts/adversarial.py``: signals and second writers, bad flags, extreme numerics."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from adversarial_core import TINY, Case, Result, environment, maflow


def start_training(work: Path, out: Path, epochs: int) -> subprocess.Popen:
    """A tiny digits training in the background, its log (stdout and stderr) readable line by line."""
    argv = [sys.executable, "-m", "maflow", "train", "--dataset", "digits", *TINY]
    argv += ["--epochs", str(epochs), "--patience", str(epochs), "--out", str(out)]
    return subprocess.Popen(
        argv, env=environment(work), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def signal_runner(signum: int, after: str = "epoch 1") -> Callable:
    """Trains, sends ``signum`` once the log shows ``after``, then resumes; the resume must succeed."""

    def runner(work: Path, folder: Path, case: Case, timeout: float) -> Result:
        out = folder / "run"
        start = time.perf_counter()
        process = start_training(work, out, 30)
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
    process = start_training(work, out, 30)
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
    first = start_training(work, out, 200)
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
