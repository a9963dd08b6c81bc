"""``maflow toy``: train a flow on a 2-D toy density and draw the gallery's pictures."""

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
    parser.add_argument("--flow", required=True, choices=FLOWS, help="flow to train (2-D preset)")
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


def _toy_config(args) -> dict:
    """The resolved configuration: the flow's gallery options, the flags, then ``--set``."""
    from maflow.errors import ConfigError
    from maflow.train.flags import apply_settings, check_run_arguments
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
        {"model": dict(TOY_FLOWS[args.flow][1]), "train": train}, args.settings, ["model"]
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
    from maflow.run.command import command_line
    from maflow.run.device import resolve_device, set_threads
    from maflow.run.folder import RunLock, prepare_run_folder
    from maflow.train.flags import print_config
    from maflow.train.toy import toy_run_files
    from maflow.utils.io import ensure_writable_dir

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
    from maflow.train.flow import git_commit

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
