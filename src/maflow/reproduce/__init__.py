"""Published tables that ``maflow reproduce NAME`` rebuilds with maflow's own commands.

Each table (one module per paper) holds its rows: the published value with its source and
whether it was checked, the ``maflow`` commands that measure maflow's value at a budget
(``quick``: a CPU smoke test; ``paper``: the paper's protocol) and how to read the result.

Example:
    >>> sorted(TABLES)[:3]
    ['made-binarized-mnist', 'made-uci-binary', 'maf-mnist']
"""

from __future__ import annotations

from maflow.reproduce.iaf import VAE_IAF
from maflow.reproduce.made import MADE_BINARIZED_MNIST, MADE_UCI_BINARY
from maflow.reproduce.maf import MAF_MNIST, MAF_UCI
from maflow.reproduce.mnf import MNF_MNIST
from maflow.reproduce.table import BUDGETS, Measured, Published, Row, Table

__all__ = ["TABLES", "BUDGETS", "Measured", "Published", "Row", "Table"]

TABLES: dict[str, Table] = {
    table.name: table
    for table in (MAF_MNIST, MAF_UCI, MADE_BINARIZED_MNIST, MADE_UCI_BINARY, VAE_IAF, MNF_MNIST)
}
