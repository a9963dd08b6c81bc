"""``maflow evaluate``: labelled test log-likelihoods, samples and u = f(x) diagnostics of a trained run."""

from __future__ import annotations

from maflow.cli.train import trained_run_parser

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = trained_run_parser(
        subparsers,
        "evaluate",
        __doc__,
        "evaluate a trained flow (log-likelihood ± 2 SE, bits/dim, samples, figures)",
        "seed of the samples",
    )
    parser.add_argument("--num-samples", "--num_samples", type=int, default=64, help="samples in the picture")
    parser.add_argument("--batch-size", "--batch_size", type=int, default=1000, help="evaluation batch size")
    parser.add_argument(
        "--precision", choices=["float64", "float32"], default="float64", help="arithmetic of the evaluation"
    )
    parser.add_argument(
        "--u-points", type=int, default=1000, help="test points in the figures of u = f(x) (0: no figures)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    from maflow.errors import ConfigError

    if args.num_samples < 0 or args.u_points < 0 or args.batch_size < 1:
        raise ConfigError("--num-samples and --u-points must be >= 0, --batch-size >= 1")
    from maflow.evaluate.flow import evaluate_flow
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.paths import RunPaths
    from maflow.run.results import format_results
    from maflow.train.flags import pick

    device = resolve_device(args.device)
    set_threads(args.threads)
    options = pick(
        args, "num_samples", "batch_size", "precision", "seed", which="checkpoint", num_u_points="u_points"
    )
    progress = False if args.quiet else None
    evaluation = evaluate_flow(
        args.dataset, args.out, args.data_dir, device=device, progress=progress, **options
    )
    headline = format_results({"evaluation": evaluation}).split("\n\n")[1]
    print(headline)
    paths = RunPaths(args.out, args.dataset)
    print(f"written: {paths.results_txt}, {paths.results_json}, {paths.samples_png}, {paths.figures}/")
    return 0
