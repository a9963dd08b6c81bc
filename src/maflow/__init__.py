"""maflow: masked autoregressive models and normalising flows in PyTorch."""

__version__ = "0.1.0"  # the one place the version is defined (pyproject.toml reads it)

__all__ = ["MADE", "MAF", "__version__", "set_default_validate_args"]


def __getattr__(name):
    # Lazy, so that ``import maflow`` (and the CLI's startup) stays light.
    if name == "MAF":
        from maflow.models.maf import MAF

        return MAF
    if name == "MADE":
        from maflow.nn.made import MADE

        return MADE
    if name == "set_default_validate_args":
        from maflow.distributions.flow import set_default_validate_args

        return set_default_validate_args
    raise AttributeError(f"module 'maflow' has no attribute {name!r}")
