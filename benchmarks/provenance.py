"""Where a benchmark number came from: the commit, the library versions and the machine.

Shared by ``benchmarks/peers.py`` (speed and memory) and ``benchmarks/quality.py`` (and through
it ``quality_zoo.py``), so that every results file names its provenance the same way.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def git_commit() -> str:
    """The short commit of the code measured; a run from an exported snapshot names it in QUALITY_COMMIT."""
    if os.environ.get("QUALITY_COMMIT"):
        return os.environ["QUALITY_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def versions(libraries) -> dict:
    """torch's and Python's versions and those of the named libraries that are installed."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"torch": torch.__version__, "python": platform.python_version()}
    for library in libraries:
        name = library.split("-")[0]  # "normflows-own" is normflows
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            pass
    return found


def machine(device: torch.device) -> str:
    """The operating system, the CPU model and count, and the GPU when ``device`` is one."""
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpu = f"; device {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    return f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs{gpu}"
