"""Multiplicative normalizing flows (Louizos and Welling 2017): Bayesian layers, LeNets, predictions."""

from maflow.models.mnf.flows import GatedMaskedCoupling, GatedMaskedFlow
from maflow.models.mnf.layers import MNFConv2d, MNFLayer, MNFLinear
from maflow.models.mnf.lenet import CLASSIFIERS, LeNet, MNFLeNet, build_classifier, num_parameters
from maflow.models.mnf.predict import Prediction, predict, predictive_summary

__all__ = [
    "CLASSIFIERS",
    "build_classifier",
    "GatedMaskedCoupling",
    "GatedMaskedFlow",
    "LeNet",
    "MNFConv2d",
    "MNFLayer",
    "MNFLeNet",
    "MNFLinear",
    "Prediction",
    "num_parameters",
    "predict",
    "predictive_summary",
]
