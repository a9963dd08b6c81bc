"""``maflow score``: the log-density of every row of a file under a trained run, in the data's own units.

One value per input row (nats), written as ``.npy`` or ``.csv`` in the rows' order, batch by
batch: a memory-mapped ``.npy`` larger than memory is scored without loading it whole. Rows of a
run trained with ``--data`` are standardised with the training split's statistics stored in the
checkpoint, and the log-Jacobian of that standardisation is included. Low values mark unusual
rows (outlier and out-of-distribution detection). The run of a registered data set
(``--dataset``) scores rows given in that set's preprocessed space (as ``maflow.data.load``
returns them).
"""

from __future__ import annotations

__all__ = ["register", "run"]


def register(subparsers) -> None:
    from maflow.cli.train import HelpFormatter
    from maflow.run.device import DEVICE_HELP, THREADS_HELP
    from maflow.train.flag_parsing import seed_int

    parser = subparsers.add_parser(
        "score",
        help="log-density of every row of a file under a trained run (.npy or .csv out)",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--run",
        dest="run_dir",
        metavar="DIR",
        required=True,
        help="the run folder: the --out of maflow train",
    )
    parser.add_argument(
        "--data", required=True, metavar="PATH", help="rows to score (.npy, .npz, .csv, .tsv, .pt, .parquet)"
    )
    parser.add_argument(
        "--output", required=True, metavar="FILE", help="where the log-densities go: .npy or .csv"
    )
    parser.add_argument(
        "--context", metavar="PATH", help="context rows, one per data row (a conditional run)"
    )
    parser.add_argument(
        "--labels", metavar="PATH", help="class labels, one per data row (a run trained with --labels)"
    )
    parser.add_argument("--columns", help="data columns (default: those the run was trained on)")
    parser.add_argument("--context-columns", help="columns of the --context or --labels file")
    parser.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    parser.add_argument("--batch-size", type=int, default=10_000, help="rows per batch")
    parser.add_argument("--precision", choices=["float64", "float32"], default="float64", help="arithmetic")
    parser.add_argument("--seed", type=seed_int, default=0, help="seed of the noise of a --dequantize run")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--threads", type=int, help=THREADS_HELP)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    from maflow.errors import ConfigError
    from maflow.evaluate.arrays import score_file
    from maflow.run.device import resolve_device, set_threads

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")
    device = resolve_device(args.device)
    set_threads(args.threads)
    result = score_file(
        args.run_dir,
        args.data,
        args.output,
        context=args.context,
        labels=args.labels,
        columns=args.columns,
        context_columns=args.context_columns,
        batch_size=args.batch_size,
        precision=args.precision,
        which=args.checkpoint,
        device=device,
        seed=args.seed,
        progress=False if args.quiet else None,
        overwrite=args.overwrite,
    )
    finite = "" if result["finite"] == result["rows"] else f" over the {result['finite']} finite values"
    print(
        f"{result['rows']} rows scored, mean log-density {result['mean_log_density']:.4f} nats{finite}; "
        f"written: {result['output']}"
    )
    return 0
