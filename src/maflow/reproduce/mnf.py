"""The MNF paper's Bayesian LeNet-5 on MNIST, with the authors' schedule.

References:
    | Multiplicative Normalizing Flows for Variational Bayesian Neural Networks (Louizos and Welling, 2017)
    | https://arxiv.org/abs/1703.01961
"""

from __future__ import annotations

from pathlib import Path

from maflow.reproduce.table import Measured, Published, Row, Settings, Table, binomial_error, read_json

__all__ = ["MNF_MNIST"]

SOURCE = "MNF paper (arXiv 1703.01961), MNIST test-error table"
# AMLab-Amsterdam/MNF_VBNN mnf_lenet_mnist.py: 100 epochs, Adam lr 1e-3, batch 100, no KL
# annealing by default (-anneal is off), L = 100 posterior samples at test time; its MNFLeNet
# (wrappers.py) has layer_dims (20, 50, 500): a dense layer of 500, not janosh/torch-mnf's 50;
# its layers cap the weights' standard deviation at thres_var = 0.5 in the forward pass.
AUTHORS = [
    "--epochs",
    "100",
    "--lr",
    "1e-3",
    "--batch-size",
    "100",
    "--kl-weight",
    "1",
    "--kl-anneal-epochs",
    "0",
]


def _mnf_row(label, published, model, test_samples):
    def commands(settings: Settings) -> list[list[str]]:
        if settings.budget == "paper":
            budget = [*AUTHORS, "--test-samples", str(test_samples)]
            if model == "mnf-lenet":
                budget += ["--dense-features", "500", "--max-std", "0.5"]
        else:
            budget = ["--epochs", "1", "--limit-train", "500", "--test-samples", "2"]
        argv = ["mnf", "train", "--model", model, *budget, "--device", settings.device]
        return [[*argv, *settings.data_flags(), "--out", str(settings.folder), "--overwrite", "--quiet"]]

    def read(folder: Path) -> Measured:
        test = read_json(folder / "results.json")["test"]
        error = binomial_error(test["error_percent"], test["count"])
        return Measured(test["error_percent"], error, f"test NLL {test['nll']:.4f}")

    return Row(label, published, commands, read, dataset="mnist_grey")


MNF_MNIST = Table(
    name="mnf-mnist",
    title="MNF paper (arXiv 1703.01961): Bayesian LeNet-5 on MNIST",
    metric="Test error, %, lower is better (± 2 binomial standard errors)",
    rows=(
        _mnf_row("MNF LeNet-5 (MNFG)", Published(0.7, None, SOURCE), "mnf-lenet", 100),
        _mnf_row("LeNet-5 (the paper's row: L2)", Published(0.6, None, SOURCE), "lenet", 1),
    ),
    budgets={
        "quick": "1 epoch on the first 500 training images: a smoke test.",
        "paper": "the authors' schedule (AMLab-Amsterdam/MNF_VBNN mnf_lenet_mnist.py): 100 epochs, Adam "
        "lr 1e-3, batch 100, the full KL from the start, test prediction averaged over 100 posterior samples; "
        "the MNF LeNet with the authors' dense layer of 500 units and their cap of 0.5 on the weights' "
        "standard deviation in the forward pass (thres_var).",
    },
    notes=(
        "The published cells are recalled, not checked: the search tool reached only the paper's abstract.",
        "maflow's LeNet row is a plain LeNet-5 (janosh/torch-mnf's layout) trained with Adam, no L2 term.",
        "Not the authors': their learned-prior option is not mirrored here.",
    ),
    digits=2,
)
