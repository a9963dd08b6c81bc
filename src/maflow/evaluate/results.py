"""Results files (moved to :mod:`maflow.run.results`; kept so old imports work)."""

from maflow.run.results import *  # noqa: F403
from maflow.run.results import __all__  # noqa: F401
