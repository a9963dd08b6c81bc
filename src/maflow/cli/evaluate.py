"""``maflow evaluate``: test log-likelihoods, samples and u = f(x) diagnostics of a trained run.

The run is its folder, ``--out RUN`` (or ``--run RUN``), the ``--out`` given to ``maflow train``;
``--dataset NAME`` alone names ``out/NAME``, that command's default. A folder of the old layout
(``OUT/<dataset>/``) is found from ``OUT``. A run trained with ``--data`` is evaluated on the splits of its own file (found
where it was, or given with ``--data`` when it moved; its values are checked against the
checkpoint), in the data's own units, as log p(x | c) when it is conditional. The run folder of a
binary MADE, a VAE, an MNF classifier or a toy flow is evaluated by its family's own command
(``maflow made evaluate``, ``vae evaluate``, ``mnf evaluate``, ``toy evaluate``).
"""

from __future__ import annotations

from maflow.cli.train import trained_run, trained_run_parser

__all__ = ["register", "run"]


def register(subparsers) -> None:
    parser = trained_run_parser(
        subparsers,
        "evaluate",
        __doc__,
        "evaluate a trained flow (log-likelihood ± 2 SE, bits/dim, samples, figures)",
        "seed of the samples",
    )
    parser.add_argument(
        "-N", "--num-samples", "--num_samples", type=int, default=64, help="samples in the picture"
    )
    parser.add_argument("--batch-size", "--batch_size", type=int, default=1000, help="evaluation batch size")
    parser.add_argument(
        "--precision", choices=["float64", "float32"], default="float64", help="arithmetic of the evaluation"
    )
    parser.add_argument(
        "--u-points", type=int, default=1000, help="test points in the figures of u = f(x) (0: no figures)"
    )
    parser.add_argument(
        "--output-dir",
        metavar="DIR",
        help="write results, samples and figures into DIR and only read the run folder (a read-only run)",
    )
    parser.add_argument("--data", metavar="PATH", help="a --data run's file, if it moved since training")
    parser.add_argument("--context", metavar="PATH", help="its --context or --labels file, if it moved")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    from maflow.errors import ConfigError, StorageError

    if args.num_samples < 0 or args.u_points < 0 or args.batch_size < 1:
        raise ConfigError("--num-samples and --u-points must be >= 0, --batch-size >= 1")
    from maflow.cli.families import dispatch, run_family
    from maflow.run.device import resolve_device, set_threads

    other = run_family(args)
    if other is not None:  # another family's run folder: its own evaluation
        return dispatch(args, "evaluate", *other)
    paths, record = trained_run(args)
    if record is None and (args.data or args.context):
        raise ConfigError(
            "--data and --context are for runs trained with --data; this run's data set is registered"
        )
    device = resolve_device(args.device)
    set_threads(args.threads)
    try:
        evaluation, written = _evaluate(args, paths, record, device)
    except StorageError as error:
        if args.output_dir is not None:
            raise
        raise StorageError(
            f"{str(error).split('; choose another')[0]}; the run folder is not writable: pass --output-dir DIR "
            "to write the evaluation there (the run folder is then only read)"
        ) from None
    if record is None:
        from maflow.run.results import format_results

        print(format_results({"evaluation": evaluation}).split("\n\n")[1])
    else:
        _print_data_run(evaluation)
    print(f"written: {written.results_txt}, {written.results_json}, {written.samples}/, {written.figures}/")
    return 0


def _evaluate(args, paths, record, device):
    from maflow.run.paths import RunPaths
    from maflow.train.flag_parsing import pick

    progress = False if args.quiet else None
    output = RunPaths(args.output_dir, paths.dataset) if args.output_dir else paths
    if record is None:
        from maflow.evaluate.flow import evaluate_flow

        options = pick(
            args,
            "num_samples",
            "batch_size",
            "precision",
            "seed",
            which="checkpoint",
            num_u_points="u_points",
        )
        evaluation = evaluate_flow(
            paths.dataset,
            paths,
            args.data_dir,
            device=device,
            progress=progress,
            output_dir=args.output_dir,
            **options,
        )
        return evaluation, output
    from maflow.evaluate.data_run import evaluate_data_run
    from maflow.run.checkpoint import load_training_checkpoint, rebuild_model

    path = paths.best if args.checkpoint == "best" else paths.latest
    checkpoint = load_training_checkpoint(path)
    model = rebuild_model(checkpoint, path).to(device).eval()
    options = pick(args, "num_samples", "batch_size", "precision", "seed", num_u_points="u_points")
    evaluation = evaluate_data_run(
        paths, checkpoint, path, model, output, args.data, args.context, progress=progress, **options
    )
    return evaluation, output


def _print_data_run(evaluation: dict) -> None:
    for split in ("test", "val"):
        ll = evaluation[split]["log_likelihood"]
        print(
            f"{split} average {evaluation['density']}, nats in the data's units (± 2 SE): "
            f"{ll['mean']:.4f} ± {ll['error_2se']:.4f}   [median {ll['median']:.4f}, N = {ll['count']}]"
        )
