"""``maflow sample``: draw exact samples from a trained flow (.npy, and a picture).

A run trained with ``--data`` samples in the data's own units (the standardisation undone;
``.npy`` or ``.csv`` by the ``--output`` suffix); a conditional one draws ``--num-samples`` rows
for each context row given with ``--context`` (a file, or a literal row such as ``0.5,1.0``;
for a one-column context, ``-1,0,1`` is three rows) or ``--labels`` (a file, or class labels
such as ``3`` or ``0,2``). The run folder of a binary MADE, a VAE or a toy flow is sampled by
its family's own command (``maflow made sample``, ``vae sample``, ``toy sample``).
"""

from __future__ import annotations

import re

from maflow.cli.train import trained_run, trained_run_parser

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = trained_run_parser(
        subparsers, "sample", __doc__, "draw samples from a trained flow", "seed of the samples"
    )
    parser.add_argument(
        "-N", "--num-samples", "--num_samples", type=int, default=64, help="samples (per context row)"
    )
    parser.add_argument(
        "--output",
        help="picture path (default RUN/samples/<dataset>_samples_seed<S>.png); .npy beside it; "
        "a --data run: .npy or .csv of the samples",
    )
    parser.add_argument(
        "--context", help="a conditional run's context: a file of rows, or one row such as 0.5,1.0"
    )
    parser.add_argument(
        "--labels", help="a run trained with --labels: a file of labels, or labels such as 3 or 0,2"
    )
    parser.add_argument("--context-columns", help="columns of the --context or --labels file")
    parser.add_argument(
        "--overwrite", action="store_true", help="a --data run: replace an existing --output file"
    )
    # A literal context such as -0.5,1 is a value, not a flag (argparse only knows -0.5 alone).
    parser._negative_number_matcher = re.compile(r"^-\.?\d[\d.,eE+-]*$")
    parser.set_defaults(run=run)


def run(args) -> int:
    from maflow.errors import ConfigError

    if args.num_samples < 1:
        raise ConfigError("--num-samples must be at least 1")
    from maflow.cli.families import dispatch, run_family

    other = run_family(args)
    if other is not None:  # another family's run folder: its own sampler
        return dispatch(args, "sample", *other)
    paths, record = trained_run(args)
    if record is not None:
        return _sample_data_run(args, paths, record)
    if args.context is not None or args.labels is not None:
        raise ConfigError("--context and --labels are for conditional runs trained with --data")
    import contextlib
    from pathlib import Path

    from maflow.data import load
    from maflow.evaluate.flow import load_trained_flow, save_samples
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock

    device = resolve_device(args.device)
    set_threads(args.threads)
    dataset = load(paths.dataset, args.data_dir)
    model, _ = load_trained_flow(paths, dataset, args.checkpoint, device)
    output = Path(args.output or paths.samples / f"{paths.dataset}_samples_seed{args.seed}.png")
    inside = output.resolve().is_relative_to(paths.root.resolve())
    with RunLock(paths.root, command_line()) if inside else contextlib.nullcontext():
        picture = save_samples(model, dataset, paths, args.num_samples, args.seed, path=output)
    print(f"{args.num_samples} samples: {picture.with_suffix('.npy')} and {picture}")
    return 0


def _contexts(args, record):
    """The model-space context rows asked for, or None for an unconditional run."""
    import numpy as np

    from maflow.data.array_files import parse_columns, read_table
    from maflow.data.context import encode_context, parse_vector
    from maflow.errors import ConfigError

    kind = record.get("context", {}).get("kind")
    flag, given = ("--labels", args.labels) if kind == "labels" else ("--context", args.context)
    other = args.context if kind == "labels" else args.labels
    if kind is None:
        if args.context is not None or args.labels is not None:
            raise ConfigError("this run's model takes no context: drop --context and --labels")
        return None
    if given is None or other is not None:
        raise ConfigError(f"this run's model is conditional: give {flag} (a file, or values such as 0.5,1.0)")
    literal = parse_vector(given)
    if literal is not None:
        one_column = kind == "labels" or len(record["context"]["standardization"]["mean"]) == 1
        raw = literal.reshape(-1, 1) if one_column else literal  # 0,3: two labels (or two 1-D contexts)
    else:
        table = read_table(given, parse_columns(args.context_columns))
        if table.has_splits:
            raise ConfigError(f"{given} holds train/val/test splits: give one array of context rows")
        raw = np.asarray(table.arrays["all"], np.float64)
    return encode_context(record["context"], raw, f"{flag} {given}")


def _sample_data_run(args, paths, record) -> int:
    import contextlib
    from pathlib import Path

    from maflow.errors import ConfigError
    from maflow.evaluate.arrays import OUTPUT_SUFFIXES, check_output
    from maflow.run.checkpoint import load_training_checkpoint, rebuild_model
    from maflow.run.command import command_line
    from maflow.run.data_samples import draw_data_samples, write_rows
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock

    context = _contexts(args, record)
    output = Path(args.output or paths.samples / f"{paths.dataset}_samples_seed{args.seed}.npy")
    if output.suffix.lower() not in OUTPUT_SUFFIXES:
        raise ConfigError(f"--output {output}: a --data run writes .npy or .csv (or .tsv, .txt)")
    if args.output is not None:  # the default name in the run folder is this command's own file
        check_output(output, args.overwrite, [given for given in (args.context, args.labels) if given])
    device = resolve_device(args.device)
    set_threads(args.threads)
    path = paths.best if args.checkpoint == "best" else paths.latest
    model = rebuild_model(load_training_checkpoint(path), path).to(device).eval()
    rows = draw_data_samples(model, record, args.num_samples, args.seed, context)
    inside = output.resolve().is_relative_to(paths.root.resolve())
    with RunLock(paths.root, command_line()) if inside else contextlib.nullcontext():
        write_rows(output, rows, record.get("columns"))
    per = f" for each of {len(context)} context rows (context by context)" if context is not None else ""
    print(f"{args.num_samples} samples{per}, in the data's units: {output}")
    return 0
