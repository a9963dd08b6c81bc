"""The MADE paper's tables: binarised MNIST and the binary UCI sets, with the authors' protocol.

References:
    | MADE: Masked Autoencoder for Distribution Estimation (Germain et al., 2015)
    | https://arxiv.org/abs/1502.03509
"""

from __future__ import annotations

from pathlib import Path

from maflow.reproduce.table import Measured, Published, Row, Settings, Table, read_json

__all__ = ["MADE_BINARIZED_MNIST", "MADE_UCI_BINARY"]

PAPER = "MADE paper (arXiv 1502.03509)"
# The authors' DNA command (mgermain/MADE README): AdaDelta (decay 0.95, epsilon 1e-5), a fresh
# mask for every update (shuffle_mask -1), validation on 300 fresh masks, the test on 1,000.
AUTHORS_UCI = ["--optimizer", "adadelta", "--lr", "1", "--rho", "0.95", "--eps", "1e-5"]
AUTHORS_MNIST = ["--optimizer", "adagrad", "--lr", "0.01"]


def _made_row(label, published, dataset, model_flags, paper_flags, quick_flags):
    def commands(settings: Settings) -> list[list[str]]:
        budget = paper_flags if settings.budget == "paper" else quick_flags
        argv = ["made", "train", "--dataset", dataset, *model_flags, *budget, "--device", settings.device]
        return [[*argv, *settings.data_flags(), "--out", str(settings.folder), "--overwrite", "--quiet"]]

    def read(folder: Path) -> Measured:
        results = read_json(folder / "results.json")
        test = results["test"]
        note = f"1 SE {test['nll_1se']:.2f}" if "nll_1se" in test else ""
        return Measured(test["nll"], test["nll_2se"], note)

    return Row(label, published, commands, read, dataset=dataset)


# The MADE authors' DNA command (mgermain/MADE README): one hidden layer of 500 with the direct
# input-output connection, AdaDelta, look-ahead 30, no epoch limit.
LOOK_AHEAD = ["--patience", "30", "--epochs", "100000"]
DNA_MODEL = ["-q", "500", "--direct-input", *LOOK_AHEAD, *AUTHORS_UCI]
# The authors' protocol at the test: early stopping on 300 masks, the test on a 1,000-mask mixture.
SAMPLING_TEST = ["-s", "1000", "--val-samples", "300"]
ONE_MASK = ["-n", "1", "-s", "1"]
FRESH = ["--fresh-masks", "-r", "1"]
# 8 masks cycled one per update (the authors' shuffle_mask 8), the test on the mixture of the 8
CYCLE_8 = ["-n", "8", "-r", "1", "-s", "8"]
# The README gives only DNA's command; the settings for Mushrooms and NIPS-0-12 were chosen on the
# validation split (docs/results.md, "MADE binary UCI sets"; docs/decisions.md): Adam, 8 cycled
# masks for mask sampling, and for NIPS-0-12 (400 training rows) no direct connection and an L2
# penalty, against overfitting. Mushrooms with one mask depends on its one order draw (test 9.69
# to 9.88 over seeds 0-9): seed 5 is the draw with the best validation NLL.
MUSHROOMS_MODEL = ["-q", "500", "--direct-input", "--lr", "1e-3", *LOOK_AHEAD]
NIPS_MODEL = ["-q", "500", "--lr", "1e-3", *LOOK_AHEAD]
# (data set, name in the table, kind, published value (recalled), model flags, paper-budget flags)
_UCI_ROWS = (
    ("dna", "DNA", "one mask", 83.63, ONE_MASK, DNA_MODEL),
    ("dna", "DNA", "mask sampling", 79.66, FRESH, [*DNA_MODEL, *SAMPLING_TEST]),
    (
        "mushrooms",
        "Mushrooms",
        "one mask",
        9.68,
        ONE_MASK,
        [*MUSHROOMS_MODEL, "--weight-decay", "1e-4", "--seed", "5"],
    ),
    ("mushrooms", "Mushrooms", "mask sampling", 9.69, CYCLE_8, MUSHROOMS_MODEL),
    ("nips", "NIPS-0-12", "one mask", 280.25, ONE_MASK, [*NIPS_MODEL, "--weight-decay", "0.2"]),
    ("nips", "NIPS-0-12", "mask sampling", 277.28, CYCLE_8, [*NIPS_MODEL, "--weight-decay", "0.1"]),
)


def _uci_rows() -> list[Row]:
    source = f"{PAPER}, table of the binary UCI sets"
    rows = []
    for dataset, name, kind, published, model_flags, paper_flags in _UCI_ROWS:
        quick = ["--epochs", "2", "-q", "32"]
        if kind == "mask sampling":
            # a cycle of N masks has no more than N to average
            quick += ["-s", "10", "--val-samples", "2"] if model_flags is FRESH else ["--val-samples", "2"]
        label = f"{name}: MADE, one mask" if kind == "one mask" else f"{name}: MADE mask sampling"
        rows.append(
            _made_row(label, Published(published, None, source), dataset, model_flags, paper_flags, quick)
        )
    return rows


MADE_UCI_BINARY = Table(
    name="made-uci-binary",
    title=f"{PAPER}, the binary UCI sets DNA, Mushrooms and NIPS-0-12",
    metric="Average test negative log-likelihood, nats, lower is better",
    rows=_uci_rows(),
    budgets={
        "quick": "2 epochs of a MADE with 32 hidden units (10 test masks): a smoke test.",
        "paper": "DNA: the MADE authors' command (mgermain/MADE README): one hidden layer of 500 ReLUs "
        "with the direct input-output connection, AdaDelta (decay 0.95, epsilon 1e-5), batch 100, "
        "look-ahead 30 epochs, no epoch limit; mask sampling draws a fresh order and connectivity for "
        "every update, early stopping on 300 masks and the test on a 1,000-mask mixture. Mushrooms and "
        "NIPS-0-12: settings chosen on the validation split (docs/results.md): one hidden layer of 500, "
        "Adam lr 1e-3, batch 100, look-ahead 30; mask sampling cycles 8 masks, one per update, and tests "
        "their 8-mask mixture; Mushrooms keeps the direct connection (one mask: L2 penalty 1e-4 and the order draw of seed 5), "
        "NIPS-0-12 drops it and takes an L2 penalty (one mask 0.2, mask sampling 0.1).",
    },
    digits=2,
    notes=(
        "The published cells are as recalled in this project's reference notes: the search tool "
        "reached only the opening of the paper's pages, not its table. The MADE authors report "
        "1 standard error (mgermain/MADE trainMADE.py: std / sqrt(N)); maflow's ± is 2 SE, its note 1 SE.",
        "Not the authors': maflow's default weight initialisation (theirs, orthogonal, is "
        "--weight-init orthogonal: on Mushrooms with one mask, seed 0, 9.88 with either); validation "
        "uses the same 300 masks at every epoch (theirs: 300 fresh ones); the README gives only DNA's "
        "mask-sampling command, which DNA's one-mask row uses too (with one mask it overfits DNA within 9 "
        "epochs: 88.17 here, against 84.98 with Adam lr 1e-3, docs/results.md); the other sets' settings "
        "come from maflow's own validation search, not from the authors; Mushrooms' one-mask row "
        "takes the order draw (seed) with the best validation NLL of ten.",
    ),
)

_MNIST_SOURCE = f"{PAPER}, binarised-MNIST table"
# (label, hidden sizes, masks, published value)
_MNIST_ROWS = (
    ("MADE, 1 hidden layer, 1 mask", "8000", 1, 88.40),
    ("MADE, 2 hidden layers, 1 mask", "8000,8000", 1, 89.59),
    ("MADE, 1 hidden layer, 32 masks", "8000", 32, 88.04),
    ("MADE, 2 hidden layers, 32 masks", "8000,8000", 32, 86.64),
)


def _mnist_rows() -> list[Row]:
    rows = []
    for label, hidden, masks, value in _MNIST_ROWS:
        mask_flags = ["-n", str(masks), "-r", "1", "-s", str(masks)]
        paper = ["-q", hidden, "--direct-input", "--epochs", "100000", "--patience", "30", *AUTHORS_MNIST]
        quick = ["-q", "50", "--epochs", "1", "--limit-train", "1000", "--val-samples", "1"]
        published = Published(value, None, _MNIST_SOURCE)
        rows.append(_made_row(label, published, "binarized_mnist", mask_flags, paper, quick))
    return rows


MADE_BINARIZED_MNIST = Table(
    name="made-binarized-mnist",
    title=f"{PAPER}, binarised MNIST (Larochelle and Murray's static binarisation)",
    metric="Average test negative log-likelihood, nats, lower is better",
    rows=_mnist_rows(),
    budgets={
        "quick": "1 epoch on the first 1,000 training images, 50 hidden units: a smoke test.",
        "paper": "the MADE authors' MNIST command (mgermain/MADE README): hidden layers of 8,000 ReLUs, "
        "AdaGrad lr 0.01, batch 100, look-ahead 30, no epoch limit, 32 masks cycled one per update "
        "and a 32-mask test mixture, direct input-output connection. Hours on a GPU; days on a CPU.",
    },
    notes=(
        "The published cells are recalled (not checked against the paper's table; see made-uci-binary).",
        "The authors' cycle holds 33 draws (shuffle_mask 32 plus the first); maflow cycles 32.",
    ),
)
