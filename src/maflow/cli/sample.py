"""``maflow sample``: draw exact samples from a trained flow (.npy, and a picture)."""

from __future__ import annotations

from maflow.cli.train import HelpFormatter

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sample",
        help="draw samples from a trained flow",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--dataset", required=True, help="data set of the trained run")
    parser.add_argument("--out", default="out", help="output root given to maflow train")
    parser.add_argument(
        "--data-dir", "--data_dir", help="data directory (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    parser.add_argument("--num-samples", "--num_samples", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    parser.add_argument(
        "--output",
        help="picture path (default OUT/<dataset>/samples/<dataset>_samples_seed<S>.png); .npy beside it",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.set_defaults(run=run)


def run(args) -> int:
    from maflow.errors import ConfigError

    if args.num_samples < 1 or args.threads < 1:
        raise ConfigError("--num-samples and --threads must be at least 1")
    import contextlib
    from pathlib import Path

    import torch

    from maflow.data import load
    from maflow.evaluate.flow import load_trained_flow, save_samples
    from maflow.run.command import command_line
    from maflow.run.folder import RunLock
    from maflow.run.paths import RunPaths

    torch.set_num_threads(args.threads)
    dataset = load(args.dataset, args.data_dir)
    paths = RunPaths(args.out, args.dataset)
    model, _ = load_trained_flow(paths, dataset, args.checkpoint)
    output = Path(args.output or paths.samples / f"{args.dataset}_samples_seed{args.seed}.png")
    inside = output.resolve().is_relative_to(paths.root.resolve())
    with RunLock(paths.root, command_line()) if inside else contextlib.nullcontext():
        picture = save_samples(model, dataset, paths, args.num_samples, args.seed, path=output)
    print(f"{args.num_samples} samples: {picture.with_suffix('.npy')} and {picture}")
    return 0
