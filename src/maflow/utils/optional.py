"""Optional dependencies: pictures (matplotlib), TensorBoard logs, scikit-learn's data sets.

``pip install maflow`` needs only torch, numpy and a few small pure-Python packages. Pictures and
TensorBoard logs are drawn when their packages are installed; without them a command says once,
in one line, what to install, and goes on without them. Data that needs scikit-learn (the 8x8
digits, the toy data sets) raises a :class:`MissingDependencyError` naming the extra.

Example:
    >>> available("numpy"), available("no_such_package_here")
    (True, False)
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from maflow.errors import MaflowError

__all__ = [
    "EXTRAS",
    "MissingDependencyError",
    "NullSummaryWriter",
    "available",
    "has_plotting",
    "has_tensorboard",
    "require",
    "skip_without_matplotlib",
]

# module -> (the pip package, the maflow extra that installs it, what it is used for)
EXTRAS: dict[str, tuple[str, str, str]] = {
    "matplotlib": ("matplotlib", "plots", "pictures"),
    "tensorboard": ("tensorboard", "tensorboard", "TensorBoard logs"),
    "sklearn": ("scikit-learn", "data", "this data set"),
}

_noticed: set[str] = set()

F = TypeVar("F", bound=Callable[..., Any])


class MissingDependencyError(MaflowError, ImportError):
    """An optional package that this feature needs is not installed (the message names the extra)."""


def available(module: str) -> bool:
    """Whether ``module`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _install_hint(module: str) -> str:
    package, extra, _ = EXTRAS[module]
    return f"pip install {package} (or pip install 'maflow[{extra}]')"


def _notice(module: str) -> None:
    # One line per missing package and process, on stderr, so that stdout stays the command's own.
    if module in _noticed:
        return
    _noticed.add(module)
    package, _, what = EXTRAS[module]
    print(f"maflow: {package} is not installed, so no {what}; {_install_hint(module)}", file=sys.stderr)


def has_plotting() -> bool:
    """Whether matplotlib is installed; if not, says once what to install."""
    if available("matplotlib"):
        return True
    _notice("matplotlib")
    return False


def has_tensorboard() -> bool:
    """Whether TensorBoard (for ``torch.utils.tensorboard``) is installed; if not, says once."""
    if available("tensorboard"):
        return True
    _notice("tensorboard")
    return False


def require(module: str, feature: str) -> None:
    """Raises :class:`MissingDependencyError` unless ``module`` is installed.

    Example:
        >>> require("numpy", "arrays")
        >>> EXTRAS["no_such_package_here"] = ("no-such-package", "data", "it")
        >>> require("no_such_package_here", "the toy data")
        Traceback (most recent call last):
        ...
        maflow.utils.optional.MissingDependencyError: the toy data needs no-such-package: pip install no-such-package (or pip install 'maflow[data]')
        >>> del EXTRAS["no_such_package_here"]
    """
    if not available(module):
        raise MissingDependencyError(f"{feature} needs {EXTRAS[module][0]}: {_install_hint(module)}")


class NullSummaryWriter:
    """Stands in for ``torch.utils.tensorboard.SummaryWriter`` when TensorBoard is not installed."""

    def add_scalar(self, *args, **kwargs) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


def skip_without_matplotlib(function: F) -> F:
    """Makes a picture-drawing function return ``None`` (after a one-line notice) without matplotlib."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        if not has_plotting():
            return None
        return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
