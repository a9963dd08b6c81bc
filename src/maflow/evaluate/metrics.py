"""Log-likelihood metrics (moved to :mod:`maflow.run.metrics`; kept so old imports work)."""

from maflow.run.metrics import *  # noqa: F403
from maflow.run.metrics import __all__  # noqa: F401
