"""User-facing errors: the CLI prints their message without a traceback."""

__all__ = [
    "MaflowError",
    "DataError",
    "CheckpointError",
    "ConfigError",
    "NoDensityError",
    "StorageError",
    "NumericalError",
]


class MaflowError(Exception):
    """An error whose message tells the user what to do."""


class DataError(MaflowError):
    """A data set is missing, corrupt or malformed."""


class CheckpointError(MaflowError):
    """A checkpoint is missing, corrupt, untrusted or from another model or data set."""


class ConfigError(MaflowError, ValueError):
    """A nonsensical option or flag."""


class NoDensityError(MaflowError, NotImplementedError):
    """A flow without a closed-form inverse was asked for the density of a point it did not sample."""


class StorageError(MaflowError, OSError):
    """A file could not be written (disk full, read-only, no permission); still an ``OSError``."""


class NumericalError(MaflowError, ArithmeticError):
    """A model gave NaN or infinite values where finite ones are needed (a diverged run's samples)."""
