"""The output tree of one run (moved to :mod:`maflow.run.paths`; kept so old imports work)."""

from maflow.run.paths import *  # noqa: F403
from maflow.run.paths import __all__  # noqa: F401
