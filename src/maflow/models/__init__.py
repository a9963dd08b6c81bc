"""Models: flows and networks assembled from transforms and distributions."""

from maflow.models.maf import MAF

__all__ = ["MAF"]
