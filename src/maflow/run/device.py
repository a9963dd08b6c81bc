"""The ``--device`` and ``--threads`` of every command: which device, and how many CPU threads.

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
"""

from __future__ import annotations

import torch

from maflow.errors import ConfigError

__all__ = ["DEVICE_HELP", "THREADS_HELP", "default_threads", "resolve_device", "set_threads"]

DEVICE_HELP = "auto (CUDA when available, else the CPU), cpu, cuda or cuda:N"
THREADS_HELP = (
    "torch CPU threads (default: torch's own, one per physical core; 1 when the machine is already busy)"
)


def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """The device that ``--device NAME`` asks for; one clear :class:`ConfigError` when it is not here."""
    if isinstance(name, torch.device):
        name = str(name)
    text = (name or "auto").strip().lower()
    if text == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {name!r} is not a device: use {DEVICE_HELP}") from None
    if device.type == "cpu":
        return torch.device("cpu")
    if device.type != "cuda":
        raise ConfigError(f"--device {name}: maflow runs on {DEVICE_HELP}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise ConfigError(
            f"--device {name}: no CUDA device is available here (torch {torch.__version__}); "
            "use --device cpu, or auto to take a GPU only when there is one"
        )
    if (device.index or 0) >= count:
        raise ConfigError(
            f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return device


def default_threads() -> int | None:
    """The threads of a run without ``--threads``: torch's default, or 1 on a machine already busy.

    ``None`` keeps torch's default. A machine counts as busy when its one-minute load average
    (before this process adds to it) is at least its number of CPUs: there, measured, a second
    thread made training 2 to 7 times slower (docs/decisions.md).
    """
    import os

    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows): torch's default
        return None
    return 1 if load >= (os.cpu_count() or 1) else None


def set_threads(threads: int | None) -> int:
    """Sets torch's CPU threads (``None``: :func:`default_threads`); returns the number in use."""
    if threads is None:
        threads = default_threads()
    if threads is not None:
        if int(threads) < 1:
            raise ConfigError(f"--threads must be at least 1, got {threads}")
        torch.set_num_threads(int(threads))
    return torch.get_num_threads()
