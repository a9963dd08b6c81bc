"""Figures (moved to :mod:`maflow.run.figures`; kept so old imports work)."""

from maflow.run.figures import *  # noqa: F403
from maflow.run.figures import __all__  # noqa: F401
