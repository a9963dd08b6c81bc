"""What a reproduction table is: published values with their sources, and the runs that measure maflow's."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["BUDGETS", "Published", "Measured", "Settings", "Row", "Table", "slug"]

BUDGETS = ("quick", "paper")


@dataclass(frozen=True)
class Published:
    """A number from a paper or its authors' code, and where it was (or was not) checked.

    Arguments:
        value: The published number (``None``: the source gives none for this row).
        error: Its published error bar, as printed (``None``: none printed).
        source: Paper, arXiv id and table (or repository and file).
        verified: Where the value was checked against the source; empty when it was not.

    Example:
        >>> Published(-1300.5, 1.7, "MAF paper (arXiv 1705.07057), Table 2").text()
        '-1300.5 ± 1.7'
    """

    value: float | None
    error: float | None
    source: str
    verified: str = ""

    def text(self) -> str:
        if self.value is None:
            return "–"
        return f"{self.value:g}" if self.error is None else f"{self.value:g} ± {self.error:g}"

    def verification(self) -> str:
        return f"yes: {self.verified}" if self.verified else "no (recalled, not checked against the paper)"


@dataclass(frozen=True)
class Measured:
    """maflow's number for a row: ``value ± error`` (2 standard errors) and a note.

    Example:
        >>> Measured(-1305.36, 3.01, "epoch 20").text(2)
        '-1305.36 ± 3.01'
    """

    value: float
    error: float
    note: str = ""

    def text(self, digits: int) -> str:
        return f"{self.value:.{digits}f} ± {self.error:.{digits}f}"


@dataclass(frozen=True)
class Settings:
    """How a table is run: the budget, device, data folder and the row's own folder."""

    budget: str
    device: str
    data_dir: str | None
    folder: Path

    def data_flags(self) -> list[str]:
        return ["--data-dir", self.data_dir] if self.data_dir else []


@dataclass(frozen=True)
class Row:
    """One row: the published value, maflow's commands at a budget, and how to read the result.

    Arguments:
        label: The model as the paper's table names it.
        published: The published value and its source.
        commands: ``commands(settings)``: argument lists of ``maflow`` (without the program name).
        read: ``read(folder)``: maflow's :class:`Measured` value from the row's folder.
        dataset: The data set the row needs (``None``: its commands say).
    """

    label: str
    published: Published
    commands: Callable[[Settings], list[list[str]]]
    read: Callable[[Path], Measured]
    dataset: str | None = None


@dataclass(frozen=True)
class Table:
    """A table of a paper that ``maflow reproduce NAME`` rebuilds.

    Arguments:
        name: The command's name for it (``maf-mnist``).
        title: The paper's table, with the arXiv id.
        metric: What the numbers are, with the direction (higher or lower is better).
        rows: The rows, in the paper's order.
        budgets: One line per budget saying what it runs.
        digits: Decimals of maflow's numbers.
        notes: Lines printed under the table (what differs from the paper's protocol).
    """

    name: str
    title: str
    metric: str
    rows: Sequence[Row]
    budgets: dict[str, str]
    digits: int = 2
    notes: Sequence[str] = field(default_factory=tuple)

    def datasets(self) -> list[str]:
        return sorted({row.dataset for row in self.rows if row.dataset})


def slug(text: str) -> str:
    """A folder name for a row label.

    Example:
        >>> slug("MAF MoG (5), conditional")
        'maf-mog-5-conditional'
    """
    kept = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(part for part in kept.split("-") if part)


def read_json(path: Path) -> dict:
    """A result file a row's command wrote (a clear error when the command did not write it)."""
    from maflow.errors import DataError

    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise DataError(f"{path} is missing: the row's command did not finish") from None
    except ValueError as error:
        raise DataError(f"{path} is not valid JSON ({error}); run the row again") from None


def binomial_error(percent: float, count: int) -> float:
    """2 standard errors of an error rate in percent over ``count`` test points.

    Example:
        >>> round(binomial_error(1.0, 10_000), 3)
        0.199
    """
    p = percent / 100
    return 200 * math.sqrt(max(p * (1 - p), 0.0) / count)
