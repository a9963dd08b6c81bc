"""Models: flows and networks assembled from transforms and distributions."""

from maflow.models.glow import Glow
from maflow.models.iaf import IAF
from maflow.models.maf import MAF
from maflow.models.mog import MADEMoGFlow, MAFMoG
from maflow.models.multiscale import MultiScaleFlow
from maflow.models.naf import NAF
from maflow.models.nsf import NSF
from maflow.models.realnvp import NICE, RealNVP
from maflow.models.variational import VariationalFlow

__all__ = [
    "IAF",
    "MAF",
    "NAF",
    "NICE",
    "NSF",
    "Glow",
    "MADEMoGFlow",
    "MAFMoG",
    "MultiScaleFlow",
    "RealNVP",
    "VariationalFlow",
]
