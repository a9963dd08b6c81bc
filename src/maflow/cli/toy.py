"""``maflow toy``: train a flow on a 2-D toy density and draw the gallery's pictures.

``maflow toy --flow FLOW --out RUN`` trains; ``maflow toy evaluate --out RUN`` scores the run on
fresh points of its density (log-likelihood ± 2 SE into RUN/results.json), and
``maflow toy sample --out RUN`` draws samples (RUN/samples/samples.npy and a scatter .png).
"""

from __future__ import annotations

__all__ = ["register", "run"]

FLOWS = ["realnvp", "nice", "maf", "iaf", "nsf-ar", "nsf-cl", "naf", "glow", "made-mog", "maf-mog"]
# The pictures one run writes into OUT/figures/, and its results in OUT/ (every run folder's
# layout); all of it marks the folder as holding a run, as do its checkpoints/latest.pth and best.pth.
FILES = {
    "overview": "overview.png",
    "density": "density.png",
    "samples": "samples.png",
    "point_flow": "point-flow.png",
    "x2z_z2x": "x2z-z2x.png",
}
RESULTS = ["results.json", "results.txt"]
# What a toy run wrote directly into OUT before it shared the layout: still a run, and still ours.
OLDER_FILES = ["summary.json", *FILES.values()]
DATA = ["moons", "circles", "blobs", "eight_gaussians", "checkerboard", "two_spirals", "pinwheel"]


def register(subparsers) -> None:
    from maflow.train.flags import add_run_arguments

    parser = subparsers.add_parser(
        "toy",
        help="train a flow on a 2-D toy set and save its gallery pictures",
        description=__doc__,
    )
    # Not required by argparse: `maflow toy evaluate|sample` need no --flow (run() asks for it).
    parser.add_argument("--flow", choices=FLOWS, help="flow to train (2-D preset); needed to train")
    parser.add_argument("--data", default="moons", choices=DATA, help="toy density")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps (or give --epochs)")
    add_run_arguments(
        parser,
        out={"default": "out/toy", "help": "run folder: results.json, figures/, checkpoints/, logs/"},
        batch_size=256,
        lr=3e-3,
        epochs_help="passes over the 10,000 training points, instead of --steps",
        set_help="any setting: model.KEY (the flow's options, e.g. num_layers) or train.KEY (steps, ...), TOML values",
    )
    parser.set_defaults(run=run)
    _register_actions(parser)


def _register_actions(parser) -> None:
    """``maflow toy evaluate`` and ``maflow toy sample``: optional, so ``maflow toy --flow`` trains."""
    from maflow.run.device import DEVICE_HELP, THREADS_HELP
    from maflow.train.flag_parsing import seed_int

    actions = parser.add_subparsers(dest="toy_command", metavar="[ACTION]", required=False)
    evaluate = actions.add_parser(
        "evaluate", help="log-likelihood ± 2 SE on fresh points of the density, into RUN/results.json"
    )
    evaluate.add_argument(
        "-N", "--num-points", type=int, help="fresh points of the density to score (default 10000)"
    )
    evaluate.add_argument(
        "--split",
        choices=("fresh", "test", "train"),
        default="fresh",
        help="fresh points (default), or the run's own test points (those of its test_nll) or training points",
    )
    sample = actions.add_parser("sample", help="samples of a toy run: RUN/samples/samples.npy and .png")
    sample.add_argument("-N", "--num-samples", type=int, default=1000)
    sample.add_argument(
        "--png", help="picture path (default RUN/samples/samples.png); the .npy goes beside it"
    )
    for action, seed_help in ((evaluate, "seeds the fresh points"), (sample, "seeds the samples")):
        action.add_argument(
            "--out", required=True, help="the run folder of `maflow toy --flow FLOW --out RUN`"
        )
        action.add_argument("--checkpoint", choices=["best", "latest"], default="best")
        action.add_argument("--seed", type=seed_int, default=0, help=seed_help)
        action.add_argument("--device", default="auto", help=DEVICE_HELP)
        action.add_argument("--threads", type=int, help=THREADS_HELP)
    evaluate.set_defaults(run=run_evaluate)
    sample.set_defaults(run=run_sample)


def _fill_from_run(args) -> None:
    """``--resume``: the flags left out (the flow, its options, steps, seed, ...) take the run's values."""
    from pathlib import Path

    from maflow.train.resume_flags import fill_from_run, stored_settings

    stored = stored_settings(Path(args.out) / "checkpoints" / "latest.pth", "toy")
    if stored:
        fill_from_run(args, {k: v for k, v in stored.items() if k not in ("builder", "options")})
        if "flow" not in (getattr(args, "given_flags", None) or {"flow"}):
            args.resumed_options = stored.get("options")


def _toy_config(args) -> dict:
    """The resolved configuration: the flow's gallery options, the flags, then ``--set``."""
    from maflow.errors import ConfigError
    from maflow.train.flag_parsing import apply_settings
    from maflow.train.flags import check_run_arguments
    from maflow.train.toy import TOY_FLOWS

    check_run_arguments(args)
    if args.patience is not None:
        raise ConfigError("maflow toy has no validation split to stop on: train a fixed --steps or --epochs")
    train = {
        "flow": args.flow,
        "data": args.data,
        "steps": args.steps,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "limit_train": args.limit_train,
        "device": args.device,
    }
    config = apply_settings(
        {"model": dict(getattr(args, "resumed_options", None) or TOY_FLOWS[args.flow][1]), "train": train},
        args.settings,
        ["model"],
    )
    train = config["train"]
    _check_numbers(train)
    if train["epochs"] is not None:
        points = min(10_000, train["limit_train"] or 10_000)
        train["steps"] = train["epochs"] * -(-points // train["batch_size"])
    return config


def _check_numbers(train: dict) -> None:
    """One line for the first setting of the wrong type or range (flags and ``--set`` alike)."""
    import math

    from maflow.errors import ConfigError

    def whole(name):
        value = train[name]
        return isinstance(value, int) and not isinstance(value, bool)

    checks = [
        (
            whole("steps") and train["steps"] >= 1,
            f"--steps must be a whole number >= 1, got {train['steps']!r}",
        ),
        (
            whole("batch_size") and train["batch_size"] >= 1,
            f"--batch-size must be a whole number >= 1, got {train['batch_size']!r}",
        ),
        (
            isinstance(train["lr"], int | float) and math.isfinite(train["lr"]) and train["lr"] > 0,
            f"--lr must be a positive number, got {train['lr']!r}",
        ),
        (
            train["epochs"] is None or (whole("epochs") and train["epochs"] >= 1),
            f"--epochs must be a whole number >= 1, got {train['epochs']!r}",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)


def run(args) -> int:
    from maflow.errors import ConfigError
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock, prepare_run_folder
    from maflow.train.flag_parsing import print_config
    from maflow.train.toy import toy_run_files
    from maflow.utils.io import ensure_writable_dir

    if args.resume:
        _fill_from_run(args)
    if args.flow is None:
        raise ConfigError(
            "maflow toy trains with --flow FLOW; `maflow toy evaluate|sample --out RUN` read a trained run"
        )
    config = _toy_config(args)
    if args.print_config:
        return print_config(config)
    device = resolve_device(args.device)
    set_threads(args.threads)
    out = ensure_writable_dir(args.out)
    with RunLock(out, command_line()):
        artefacts, own = toy_run_files(out, list(FILES.values()), RESULTS, OLDER_FILES)
        prepare_run_folder(
            out, artefacts, own, args.resume, args.overwrite, out / "checkpoints" / "latest.pth"
        )
        return _train_and_draw(args, config, out, device)


def _train_and_draw(args, config, out, device) -> int:
    import sys

    from maflow.evaluate import gallery
    from maflow.run.results import format_results
    from maflow.train.toy import toy_splits, train_toy_flow
    from maflow.utils.io import atomic_write_text, write_json

    settings = config["train"]
    train, test = toy_splits(settings["data"], settings["seed"])
    if settings["limit_train"]:
        train = train[: settings["limit_train"]]
    model, summary = train_toy_flow(
        settings["flow"],
        train,
        test,
        out,
        settings["steps"],
        settings["batch_size"],
        settings["lr"],
        settings["seed"],
        echo=not args.quiet,
        options=config["model"],
        device=device,
        progress=False if args.quiet else None,
        resume=args.resume,
        data=settings["data"],
        tf32=args.tf32,
    )
    title = (
        f"{settings['flow']} on {settings['data']}: test NLL {summary['test_nll']:.3f} nats "
        f"({settings['steps']} steps)"
    )
    figures = out / "figures"
    files = {
        "overview": gallery.save_overview(model, test, figures / FILES["overview"], title),
        "density": gallery.save_density(model, figures / FILES["density"]),
        "samples": gallery.save_samples_over_data(model, test, figures / FILES["samples"]),
        "point_flow": gallery.save_point_flow(model, test, figures / FILES["point_flow"]),
        "x2z_z2x": gallery.save_x2z_z2x(model, test, figures / FILES["x2z_z2x"]),
    }
    from maflow.run.commit import git_commit

    summary.update(
        data=settings["data"],
        files={key: str(path) for key, path in files.items() if path is not None},
        command="maflow " + " ".join(sys.argv[1:]),
        git_commit=git_commit(),
    )
    write_json(out / RESULTS[0], summary)
    atomic_write_text(out / RESULTS[1], format_results({"toy flow": summary}))
    print(f"{title}; results.json in {out}, pictures in {figures}")
    return 0


def _check_action(args, count: int, flag: str, least: int) -> None:
    """One line for a nonsensical flag of ``evaluate``/``sample``, before any file is touched."""
    from maflow.errors import ConfigError

    if args.flow is not None:
        raise ConfigError(
            f"--flow is for training; maflow toy {args.toy_command} reads the flow from RUN: drop it"
        )
    if count < least:
        raise ConfigError(f"{flag} must be at least {least}, got {count}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be at least 1, got {args.threads}")


def _load_run(args):
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.toy import load_toy_run

    device = resolve_device(args.device)
    set_threads(args.threads)
    run = load_toy_run(args.out, args.checkpoint)
    run.model.to(device)
    return run


def run_evaluate(args) -> int:
    from maflow.errors import ConfigError
    from maflow.evaluate.toy import evaluate_toy
    from maflow.run.command import command_line
    from maflow.run.family_results import record_evaluation
    from maflow.run.folder import existing_run_lock

    if args.split != "fresh" and args.num_points is not None:
        raise ConfigError(
            f"-N counts fresh points; --split {args.split} scores the run's own points: drop -N"
        )
    num_points = 10_000 if args.num_points is None else args.num_points
    _check_action(args, num_points, "--num-points", 2)  # two points give an error bar
    with existing_run_lock(args.out, command_line()):  # it writes RUN/results.json
        run = _load_run(args)
        evaluation = evaluate_toy(run, num_points, args.seed, split=args.split)
        evaluation["command"] = command_line()
        record_evaluation(args.out, "toy flow", evaluation)
    ll, data_units = evaluation["test"]["log_likelihood"], evaluation["test_data_units"]
    print(
        f"{evaluation['points']}: average log-likelihood "
        f"{ll['mean']:.4f} ± {ll['error_2se']:.4f} nats (± 2 SE, standardised units as the training's "
        f"test_nll; {data_units['mean']:.4f} in the data's units); results.json in {args.out}"
    )
    return 0


def run_sample(args) -> int:
    import contextlib
    from pathlib import Path

    from maflow.errors import ConfigError
    from maflow.evaluate.toy import save_toy_samples
    from maflow.run.command import command_line
    from maflow.run.folder import RunLock
    from maflow.run.toy import SAMPLE_FILES

    _check_action(args, args.num_samples, "--num-samples", 1)
    out = Path(args.out)
    png = Path(args.png) if args.png else out / "samples" / SAMPLE_FILES[1]
    if png.suffix.lower() != ".png":
        raise ConfigError(f"the picture {png} must be a .png file (the samples' .npy goes beside it)")
    inside = out.is_dir() and png.resolve().is_relative_to(out.resolve())
    with RunLock(out, command_line()) if inside else contextlib.nullcontext():
        run = _load_run(args)
        npy, picture = save_toy_samples(run, args.num_samples, args.seed, png)
    drawn = f"{npy} and {picture}" if picture is not None else f"{npy} (no picture: matplotlib is missing)"
    print(f"{args.num_samples} samples of the {run.data} flow, in the data's units: {drawn}")
    return 0
