"""Class-conditional metrics (moved to :mod:`maflow.run.conditional`; kept so old imports work)."""

from maflow.run.conditional import *  # noqa: F403
from maflow.run.conditional import __all__  # noqa: F401
