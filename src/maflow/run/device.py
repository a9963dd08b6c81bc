"""The ``--device``, ``--threads`` and ``--tf32`` of every command, and where the training data live.

Example:
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_device("auto").type in ("cpu", "cuda")
    True
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from maflow.errors import ConfigError

__all__ = [
    "DEVICE_HELP",
    "THREADS_HELP",
    "TF32_HELP",
    "DEVICE_DATA_FRACTION",
    "Placement",
    "default_threads",
    "fits_on_device",
    "place_training_data",
    "resolve_device",
    "set_threads",
    "tf32_precision",
]

DEVICE_HELP = "auto (CUDA when available, else the CPU), cpu, cuda or cuda:N"
THREADS_HELP = (
    "torch CPU threads (default: torch's own, one per physical core; 1 when the machine is already busy)"
)
TF32_HELP = (
    "on a CUDA GPU, let float32 matrix products and convolutions use TensorFloat-32 (faster, "
    "about 3 decimal digits per product; default off: float32 exact); no effect on the CPU"
)
# Share of the GPU's free memory that the training set may take and still move there whole: the
# rest is for the model, its gradients, the optimiser's state, activations and validation.
DEVICE_DATA_FRACTION = 0.5


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


@contextlib.contextmanager
def tf32_precision(
    enabled: bool, device: torch.device | str, log: Callable[[str], object] | None = None
) -> Iterator[None]:
    """``--tf32`` inside the block: on a CUDA ``device``, float32 matrix products and cuDNN
    convolutions use TensorFloat-32 when ``enabled`` and exact float32 when not (cuDNN's TF32,
    which PyTorch allows by default, is switched off too); the previous settings come back after.

    On any other device nothing changes; with ``enabled``, ``log`` gets one line saying so (on
    CUDA, one line saying it is on). Log-determinants and log-likelihood sums are unaffected:
    they are element-wise float32 or float64 work, not matrix products.

    Example:
        >>> with tf32_precision(True, "cpu", log=print):
        ...     pass
        --tf32 has no effect on cpu: float32 arithmetic stays exact
    """
    device = torch.device(device)
    if device.type != "cuda":
        if enabled and log is not None:
            log(f"--tf32 has no effect on {device}: float32 arithmetic stays exact")
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(enabled)
    if enabled and log is not None:
        log(f"--tf32: float32 matrix products and cuDNN convolutions on {device} use TensorFloat-32")
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def fits_on_device(nbytes: int, free_bytes: int, fraction: float = DEVICE_DATA_FRACTION) -> bool:
    """Whether ``nbytes`` of training data fit comfortably in ``free_bytes`` of device memory:
    at most ``fraction`` of it (:data:`DEVICE_DATA_FRACTION`), the rest left for training itself.

    Example:
        >>> fits_on_device(157_000_000, 80_000_000_000), fits_on_device(6 * 2**30, 8 * 2**30)
        (True, False)
    """
    return nbytes <= fraction * free_bytes


@dataclass
class Placement:
    """Where :func:`place_training_data` put the training data.

    Arguments:
        data: The tensor: on the device, or on the CPU (pinned when possible).
        batch_device: ``None`` when ``data`` is on the device; else the device each batch must
            move to (``Trainer(batch_device=...)`` copies it without waiting).
        message: One line for the log when the data stay on the CPU, else ``None``.
    """

    data: torch.Tensor
    batch_device: torch.device | None = None
    message: str | None = None


def place_training_data(
    data: torch.Tensor,
    device: torch.device | str,
    mem_get_info: Callable[[torch.device], tuple[int, int]] | None = None,
) -> Placement:
    """Moves the training set to ``device`` once, or keeps it on the CPU when it would not fit there
    comfortably (:func:`fits_on_device` with the free memory that ``torch.cuda.mem_get_info``
    reports): then in pinned memory, so that each batch's copy to the GPU overlaps the work.

    Arguments:
        data: The whole training set, on the CPU.
        device: The training device; only a CUDA device's memory is checked.
        mem_get_info: ``device -> (free, total)`` bytes (default ``torch.cuda.mem_get_info``).

    Example:
        >>> placement = place_training_data(torch.zeros(4, 2), "cpu")
        >>> placement.data.device, placement.batch_device
        (device(type='cpu'), None)
    """
    device = torch.device(device)
    if device.type != "cuda":
        return Placement(data.to(device))
    free, _ = (mem_get_info or torch.cuda.mem_get_info)(device)
    nbytes = data.numel() * data.element_size()
    if fits_on_device(nbytes, free):
        return Placement(data.to(device))
    try:
        host = data.pin_memory()
    except RuntimeError:  # pinned memory refused: pageable copies still work, only without overlap
        host = data
    return Placement(
        host,
        device,
        f"the training data ({nbytes / 2**30:.2f} GiB) stay in {'pinned ' if host.is_pinned() else ''}CPU "
        f"memory: more than {DEVICE_DATA_FRACTION:.0%} of the {free / 2**30:.2f} GiB free on {device}; "
        "each batch is copied there as it is used",
    )
