"""``maflow toy``: train a flow on a 2-D toy density and draw the gallery's pictures."""

from __future__ import annotations

__all__ = ["register", "run"]

FLOWS = ["realnvp", "nice", "maf", "iaf", "nsf-ar", "nsf-cl", "naf", "glow", "made-mog", "maf-mog"]
# What one run writes into --out (all of it marks the folder as holding a run).
FILES = {
    "overview": "overview.png",
    "density": "density.png",
    "samples": "samples.png",
    "point_flow": "point-flow.png",
    "x2z_z2x": "x2z-z2x.png",
    "summary": "summary.json",
}
DATA = ["moons", "circles", "blobs", "eight_gaussians", "checkerboard", "two_spirals", "pinwheel"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "toy",
        help="train a flow on a 2-D toy set and save its gallery pictures",
        description=__doc__,
    )
    parser.add_argument("--flow", required=True, choices=FLOWS, help="flow to train (2-D preset)")
    parser.add_argument("--data", default="moons", choices=DATA, help="toy density")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=3e-3, help="initial learning rate (cosine decay to 0)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--out", default="out/toy", help="directory for the pictures and summary.json")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the pictures and summary.json already in --out"
    )
    parser.set_defaults(run=run)


def run(args) -> int:
    import torch

    from maflow.errors import ConfigError
    from maflow.run.command import command_line
    from maflow.run.folder import RunLock, prepare_run_folder
    from maflow.utils.io import ensure_writable_dir

    if args.steps < 0 or args.batch_size < 1 or args.lr <= 0:
        raise ConfigError("--steps must be >= 0, --batch-size >= 1 and --lr > 0")
    torch.set_num_threads(args.threads)
    out = ensure_writable_dir(args.out)
    with RunLock(out, command_line()):
        files = [out / name for name in FILES.values()]
        prepare_run_folder(out, files, {out: list(FILES.values())}, overwrite=args.overwrite)
        return _train_and_draw(args, out)


def _train_and_draw(args, out) -> int:
    import sys

    from maflow.evaluate import gallery
    from maflow.utils.io import write_json

    train, test = gallery.toy_splits(args.data, args.seed)
    model, summary = gallery.train_toy_flow(
        args.flow, train, test, args.steps, args.batch_size, args.lr, args.seed
    )
    title = f"{args.flow} on {args.data}: test NLL {summary['test_nll']:.3f} nats ({args.steps} steps)"
    files = {
        "overview": gallery.save_overview(model, test, out / FILES["overview"], title),
        "density": gallery.save_density(model, out / FILES["density"]),
        "samples": gallery.save_samples_over_data(model, test, out / FILES["samples"]),
        "point_flow": gallery.save_point_flow(model, test, out / FILES["point_flow"]),
        "x2z_z2x": gallery.save_x2z_z2x(model, test, out / FILES["x2z_z2x"]),
    }
    from maflow.train.flow import git_commit

    summary.update(
        data=args.data,
        files={key: str(path) for key, path in files.items() if path is not None},
        command="maflow " + " ".join(sys.argv[1:]),
        git_commit=git_commit(),
    )
    write_json(out / FILES["summary"], summary)
    print(f"{title}; pictures and summary.json in {out}")
    return 0
