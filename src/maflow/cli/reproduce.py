"""``maflow reproduce``: rebuild a paper's table with maflow's own commands, published values beside it.

``maflow reproduce --list`` names the tables; ``maflow reproduce NAME --budget quick`` runs a CPU
smoke test of every row in minutes; ``--budget paper`` runs the paper's protocol. The table
(published value, source, whether it was checked, maflow's value ± 2 SE, the command, the
commit, the device, the time) is written to ``OUT/NAME-BUDGET.md`` after every row.
"""

from __future__ import annotations

from maflow.errors import ConfigError

__all__ = ["register"]


def register(subparsers) -> None:
    from maflow.reproduce.table import BUDGETS

    parser = subparsers.add_parser(
        "reproduce", help="rebuild a paper's table (MAF, MADE, IAF, MNF) with published values beside it"
    )
    parser.description = __doc__
    parser.add_argument("name", nargs="?", help="the table (see --list)")
    parser.add_argument("--list", action="store_true", help="list the tables and exit")
    parser.add_argument(
        "--budget", choices=BUDGETS, default="quick", help="quick: CPU minutes; paper: the paper's protocol"
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--data-dir", help="folder holding the data (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    parser.add_argument("--out", help="folder for the runs and the table (default: reproduce/NAME-BUDGET)")
    parser.add_argument(
        "--rows",
        action="append",
        metavar="WORD",
        help="only the rows whose label contains WORD (repeatable), e.g. --rows DNA",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    from pathlib import Path

    from maflow.reproduce import TABLES
    from maflow.reproduce.runner import run_table

    if args.list:
        for table in TABLES.values():
            print(f"{table.name:22} {table.title} ({len(table.rows)} rows)")
        return 0
    if args.name is None:
        raise ConfigError(
            "name a table (maflow reproduce --list shows them), e.g. maflow reproduce made-uci-binary"
        )
    if args.name not in TABLES:
        raise ConfigError(f"no table {args.name!r}: use one of {', '.join(TABLES)}")
    from maflow.run.device import resolve_device

    resolve_device(args.device)  # an unknown or absent device fails here, before any run
    out = Path(args.out or Path("reproduce") / f"{args.name}-{args.budget}")
    from maflow.cli import main

    path, status = run_table(
        TABLES[args.name], args.budget, out, args.device, args.data_dir, args.rows, run_command=main
    )
    print(path.read_text(), end="")
    return status
