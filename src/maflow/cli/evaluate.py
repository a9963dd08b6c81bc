"""``maflow evaluate``: labelled test log-likelihoods, samples and u = f(x) diagnostics of a trained run."""

from __future__ import annotations

from maflow.cli.train import HelpFormatter

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate a trained flow (log-likelihood ± 2 SE, bits/dim, samples, figures)",
        description=__doc__,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--dataset", required=True, help="data set of the run to evaluate")
    parser.add_argument("--out", default="out", help="output root given to maflow train")
    parser.add_argument(
        "--data-dir", "--data_dir", help="data directory (default: $MAFLOW_DATA or ~/.cache/maflow)"
    )
    parser.add_argument("--num-samples", "--num_samples", type=int, default=64, help="samples in the picture")
    parser.add_argument("--batch-size", "--batch_size", type=int, default=1000, help="evaluation batch size")
    parser.add_argument(
        "--precision", choices=["float64", "float32"], default="float64", help="arithmetic of the evaluation"
    )
    parser.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    parser.add_argument(
        "--u-points", type=int, default=1000, help="test points in the figures of u = f(x) (0: no figures)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the samples")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.set_defaults(run=run)


def run(args) -> int:
    from maflow.errors import ConfigError

    if args.num_samples < 0 or args.u_points < 0 or args.batch_size < 1 or args.threads < 1:
        raise ConfigError("--num-samples and --u-points must be >= 0, --batch-size and --threads >= 1")
    import torch

    from maflow.evaluate.flow import evaluate_flow
    from maflow.run.paths import RunPaths
    from maflow.run.results import format_results

    torch.set_num_threads(args.threads)
    evaluation = evaluate_flow(
        args.dataset,
        args.out,
        args.data_dir,
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        precision=args.precision,
        seed=args.seed,
        which=args.checkpoint,
        num_u_points=args.u_points,
    )
    headline = format_results({"evaluation": evaluation}).split("\n\n")[1]
    print(headline)
    paths = RunPaths(args.out, args.dataset)
    print(f"written: {paths.results_txt}, {paths.results_json}, {paths.samples_png}, {paths.figures}/")
    return 0
