"""Hostile files for ``scripts/adversarial.py``: damaged data, damaged or crafted checkpoints, odd disks."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

from adversarial_core import TINY, Case, Result, crafted, evil, no_code_ran, raw_best, slug


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
