"""``maflow sample``: draw exact samples from a trained flow (.npy, and a picture)."""

from __future__ import annotations

from maflow.cli.train import trained_run_parser

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = trained_run_parser(
        subparsers, "sample", __doc__, "draw samples from a trained flow", "seed of the samples"
    )
    parser.add_argument("--num-samples", "--num_samples", type=int, default=64)
    parser.add_argument(
        "--output",
        help="picture path (default OUT/<dataset>/samples/<dataset>_samples_seed<S>.png); .npy beside it",
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    from maflow.errors import ConfigError

    if args.num_samples < 1:
        raise ConfigError("--num-samples must be at least 1")
    import contextlib
    from pathlib import Path

    from maflow.data import load
    from maflow.evaluate.flow import load_trained_flow, save_samples
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock
    from maflow.run.paths import RunPaths

    device = resolve_device(args.device)
    set_threads(args.threads)
    dataset = load(args.dataset, args.data_dir)
    paths = RunPaths(args.out, args.dataset)
    model, _ = load_trained_flow(paths, dataset, args.checkpoint, device)
    output = Path(args.output or paths.samples / f"{args.dataset}_samples_seed{args.seed}.png")
    inside = output.resolve().is_relative_to(paths.root.resolve())
    with RunLock(paths.root, command_line()) if inside else contextlib.nullcontext():
        picture = save_samples(model, dataset, paths, args.num_samples, args.seed, path=output)
    print(f"{args.num_samples} samples: {picture.with_suffix('.npy')} and {picture}")
    return 0
