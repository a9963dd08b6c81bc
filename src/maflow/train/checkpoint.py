"""Training checkpoints (moved to :mod:`maflow.run.checkpoint`; kept so old imports work)."""

from maflow.run.checkpoint import *  # noqa: F403
from maflow.run.checkpoint import __all__  # noqa: F401
