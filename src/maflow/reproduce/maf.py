"""The MAF paper's tables: MNIST (Table 2) and the UCI and BSDS300 sets (Table 1).

References:
    | Masked Autoregressive Flow for Density Estimation (Papamakarios et al., 2017)
    | https://arxiv.org/abs/1705.07057
"""

from __future__ import annotations

from pathlib import Path

from maflow.reproduce.table import Measured, Published, Row, Settings, Table, read_json
from maflow.run.locate import locate_run

__all__ = ["MAF_MNIST", "MAF_UCI"]

TABLE_1 = "MAF paper (arXiv 1705.07057), Table 1"
TABLE_2 = "MAF paper (arXiv 1705.07057), Table 2"
# Where the published cells were checked: a transcription of the table, not the paper's PDF
# (the search tool reached only the opening of the paper's pages).
TAN_README = "lupalab/tan README.md, which transcribes the MAF paper's Table 1"
PAPERS_WITH_CODE = "paperswithcode page of arXiv 1705.07057 (a transcription of Table 2)"

# name in the table -> (registered model, flow layers or None, learning rate of the MAF code)
MODELS = {
    "MADE": ("made", None, 1e-3),
    "MADE MoG": ("made-mog", None, 1e-3),
    "Real NVP (5)": ("realnvp", 5, 1e-4),
    "Real NVP (10)": ("realnvp", 10, 1e-4),
    "MAF (5)": ("maf", 5, 1e-4),
    "MAF (10)": ("maf", 10, 1e-4),
    "MAF MoG (5)": ("maf-mog", 5, 1e-4),
}

QUICK = ["--epochs", "1", "--limit-train", "1000", "--hidden-features", "64"]


def _train_flags(name: str, dataset: str, settings: Settings) -> list[str]:
    model, layers, lr = MODELS[name]
    flags = ["--dataset", dataset, "--model", model, "--lr", str(lr), "--device", settings.device]
    flags += ["--num-layers", str(layers)] if layers else []
    flags += QUICK if settings.budget == "quick" else []
    return [*flags, *settings.data_flags(), "--out", str(settings.folder), "--overwrite", "--quiet"]


def _unconditional(name: str, dataset: str):
    def commands(settings: Settings) -> list[list[str]]:
        train = ["train", *_train_flags(name, dataset, settings), "--num-samples", "0"]
        evaluate = ["evaluate", "--out", str(settings.folder)]
        evaluate += ["--num-samples", "0", "--u-points", "0", "--device", settings.device, "--quiet"]
        return [train, [*evaluate, *settings.data_flags()]]

    def read(folder: Path) -> Measured:
        # The row's run folder; a folder of the old layout holds it in <dataset>/results_summary.json.
        test = read_json(locate_run(folder, dataset, quiet=True).results_json)["evaluation"]["test"]
        log_likelihood = test["log_likelihood"]
        return Measured(log_likelihood["mean"], log_likelihood["error_2se"])

    return commands, read


def _conditional(name: str, dataset: str):
    model = MODELS[name][0]

    def commands(settings: Settings) -> list[list[str]]:
        return [["train", "--conditional", *_train_flags(name, dataset, settings)]]

    def read(folder: Path) -> Measured:
        run = locate_run(folder, f"{dataset}_conditional_{model}", quiet=True)
        test = read_json(run.root / "results.json")["test"]
        return Measured(test["log_p_x"], test["log_p_x_2se"], "log p(x): p(x|y) averaged over the 10 labels")

    return commands, read


# Table 2, MNIST columns: (unconditional, conditional) as (value, 2 SE).
MNIST_PUBLISHED = {
    "MADE": ((-1380.8, 4.8), (-1361.9, 1.9)),
    "MADE MoG": ((-1038.5, 1.8), (-1030.3, 1.7)),
    "Real NVP (5)": ((-1323.2, 6.6), (-1326.3, 5.8)),
    "Real NVP (10)": ((-1370.7, 10.1), (-1371.3, 43.9)),
    "MAF (5)": ((-1300.5, 1.7), (-1302.9, 1.7)),
    "MAF (10)": ((-1313.1, 2.0), (-1316.8, 1.8)),
    "MAF MoG (5)": ((-1100.3, 1.6), (-1092.3, 1.7)),
}


def _mnist_rows() -> list[Row]:
    rows = []
    for name, (unconditional, conditional) in MNIST_PUBLISHED.items():
        checked = PAPERS_WITH_CODE if name == "MADE MoG" else ""
        published = Published(*unconditional, TABLE_2 + ", MNIST unconditional", checked)
        commands, read = _unconditional(name, "mnist")
        rows.append(Row(name, published, commands, read, dataset="mnist"))
        published = Published(*conditional, TABLE_2 + ", MNIST conditional (arXiv v4)")
        commands, read = _conditional(name, "mnist")
        rows.append(Row(f"{name}, conditional", published, commands, read, dataset="mnist"))
    return rows


PAPER_BUDGET = (
    "the data set's preset (`maflow/configs/<data set>.toml`: the MAF code's MADE widths and "
    "depths, batch 100, weight decay 1e-6, patience 30, batch-norm statistics of the whole "
    "training set), Adam lr 1e-3 for MADE and MADE MoG and 1e-4 for the flows, as gpapamak/maf."
)

MAF_MNIST = Table(
    name="maf-mnist",
    title="MAF paper (arXiv 1705.07057), Table 2, MNIST rows",
    metric="Average test log-likelihood in logit space (λ = 1e-6), nats, higher is better",
    rows=_mnist_rows(),
    budgets={
        "quick": "1 epoch on the first 1,000 training images, MADEs of 64 hidden units: a smoke "
        "test of the pipeline (minutes on a CPU), not a reproduction.",
        "paper": PAPER_BUDGET + " For MNIST: MADEs of 1024 x 2 hidden units, the only size "
        "gpapamak/maf run_experiments.py trains on MNIST.",
    },
    notes=(
        "Published error bars are 2 standard errors (gpapamak/maf collect_results.py, n_err = 2).",
        "Conditional rows: the corrected values of the paper's arXiv v4 (an erratum fixed the "
        "conditional test log-likelihoods); maflow scores log p(x) = log (1/10) Σ_y p(x|y), as the MAF code.",
    ),
)

# Table 1: POWER, GAS, HEPMASS, MINIBOONE, BSDS300 as (value, 2 SE), from lupalab/tan's README.
UCI_PUBLISHED = {
    "MADE": [(-3.08, 0.03), (3.56, 0.04), (-20.98, 0.02), (-15.59, 0.50), (148.85, 0.28)],
    "MADE MoG": [(0.40, 0.01), (8.47, 0.02), (-15.15, 0.02), (-12.27, 0.47), (153.71, 0.28)],
    "Real NVP (5)": [(-0.02, 0.01), (4.78, 1.80), (-19.62, 0.02), (-13.55, 0.49), (152.97, 0.28)],
    "Real NVP (10)": [(0.17, 0.01), (8.33, 0.14), (-18.71, 0.02), (-13.84, 0.52), (153.28, 1.78)],
    "MAF (5)": [(0.14, 0.01), (9.07, 0.02), (-17.70, 0.02), (-11.75, 0.44), (155.69, 0.28)],
    "MAF (10)": [(0.24, 0.01), (10.08, 0.02), (-17.73, 0.02), (-12.24, 0.45), (154.93, 0.28)],
    "MAF MoG (5)": [(0.30, 0.01), (9.59, 0.02), (-17.39, 0.02), (-11.68, 0.44), (156.36, 0.28)],
}
UCI_SETS = ("power", "gas", "hepmass", "miniboone", "bsds300")
UCI_NAMES = {
    "power": "POWER",
    "gas": "GAS",
    "hepmass": "HEPMASS",
    "miniboone": "MINIBOONE",
    "bsds300": "BSDS300",
}


def _uci_rows() -> list[Row]:
    rows = []
    for index, dataset in enumerate(UCI_SETS):
        for name, values in UCI_PUBLISHED.items():
            published = Published(*values[index], f"{TABLE_1}, {UCI_NAMES[dataset]}", TAN_README)
            label = f"{UCI_NAMES[dataset]}: {name}"
            commands, read = _unconditional(name, dataset)
            rows.append(Row(label, published, commands, read, dataset=dataset))
    return rows


MAF_UCI = Table(
    name="maf-uci",
    title="MAF paper (arXiv 1705.07057), Table 1 (UCI and BSDS300)",
    metric="Average test log-likelihood, nats, higher is better",
    rows=_uci_rows(),
    budgets={
        "quick": "1 epoch on the first 1,000 training points, MADEs of 64 hidden units: a smoke test.",
        "paper": PAPER_BUDGET,
    },
    notes=(
        "Published error bars are 2 standard errors (gpapamak/maf collect_results.py).",
        "gpapamak/maf run_experiments.py trains every model with one and with two hidden layers per "
        "MADE on these sets (and widths 512 and 1024 on BSDS300) and the paper reports the better on "
        "validation; maflow runs the preset's size only.",
        "The data: the MAF authors' preprocessed archive (Zenodo record 1161203, data.tar.gz); "
        "`maflow data fetch NAME` downloads it where the network allows.",
    ),
)
