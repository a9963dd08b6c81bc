"""``--compile``: a family's training loss through ``torch.compile``, and one line when that fails."""

from __future__ import annotations

import sys
from collections.abc import Callable

import torch

from maflow.errors import ConfigError

__all__ = ["COMPILE_BACKEND", "compile_loss", "compile_failure", "is_compile_failure"]

# torch.compile's own default: generated kernels (a C++ compiler on the CPU, Triton on a GPU).
COMPILE_BACKEND = "inductor"


def compile_loss(loss_fn: Callable, backend: str = COMPILE_BACKEND) -> Callable:
    """``loss_fn(model, batch)`` compiled with ``torch.compile`` (forward and backward).

    Shapes are static: one graph for the full batches and one for the smaller last batch, each
    built once. Building happens at the first call; a failure there is turned into one line by
    the trainer (:func:`compile_failure`). An unknown backend is refused here. (No example runs
    here: importing the compiler takes seconds; ``tests/train/test_compile_training.py`` trains.)
    """
    try:
        return torch.compile(loss_fn, backend=backend, dynamic=False)
    except Exception as error:  # an unknown backend, or a Python that torch.compile does not support
        raise compile_failure(error, backend) from None


def is_compile_failure(error: BaseException) -> bool:
    """Whether ``error`` came from torch.compile building a graph (not from the model's own code)."""
    exc = sys.modules.get("torch._dynamo.exc")  # loaded once anything was compiled
    return exc is not None and isinstance(error, exc.TorchDynamoException)


def compile_failure(error: BaseException, backend: str) -> ConfigError:
    """The one-line :class:`ConfigError` for a training loss that torch.compile could not build.

    Example:
        >>> str(compile_failure(RuntimeError("no C++ compiler\\nmore"), "inductor"))[:80]
        "--compile: torch.compile could not build the training loss with backend 'inducto"
    """
    lines = str(error).strip().splitlines()
    return ConfigError(
        f"--compile: torch.compile could not build the training loss with backend {backend!r} "
        f"({type(error).__name__}: {lines[0] if lines else 'no message'}); train without --compile, "
        "or with --set train.compile_backend=aot_eager (no C compiler needed); --resume continues this run"
    )
