"""``maflow evaluate`` and ``maflow sample`` on the run folder of another model family.

A run folder's checkpoint names its family (``flow``, ``made``, ``vae``, ``mnf``, ``toy``); the
flow commands hand a binary MADE's or a VAE's folder to that family's own command, with the
flags that mean the same there, so that ``evaluate --run RUN`` and ``sample --run RUN`` work on
any run a training command wrote.
"""

from __future__ import annotations

__all__ = ["run_family", "dispatch"]

# (family, command) -> the family's command line; None: the family has no such command.
_COMMANDS = {
    ("made", "evaluate"): ["made", "evaluate"],
    ("made", "sample"): ["made", "sample"],
    ("vae", "evaluate"): ["vae", "evaluate"],
}


def run_family(args) -> tuple[str, object] | None:
    """The family of the run that ``--out``/``--run`` names and its folder, or None (a flow, no
    checkpoint, or ``--dataset`` given: a flow's run is meant).

    Example:
        >>> import argparse
        >>> run_family(argparse.Namespace(run_dir="/no/such/run", out=None, dataset=None, checkpoint="best"))
    """
    from pathlib import Path

    from maflow.utils.io import load_checkpoint

    folder = args.run_dir if args.run_dir is not None else args.out
    if folder is None or args.dataset is not None:
        return None  # a flow's data set named: the flow commands say what the folder holds instead
    folder = Path(folder).expanduser()
    checkpoint = folder / "checkpoints" / ("best.pth" if args.checkpoint == "best" else "latest.pth")
    if not checkpoint.is_file():
        return None
    family = load_checkpoint(checkpoint).get("family", "flow")
    return None if family == "flow" else (str(family), folder)


def dispatch(args, command: str, family: str, folder) -> int:
    """Runs ``command`` (``evaluate`` or ``sample``) of ``family`` on ``folder`` with the shared flags."""
    from maflow.cli import build_parser
    from maflow.errors import ConfigError

    base = _COMMANDS.get((family, command))
    if base is None:
        own = f": see `maflow {family} --help`" if family in ("mnf", "vae") else ""
        raise ConfigError(f"{folder} holds a {family!r} run, which maflow {command} does not read{own}")
    for flag in ("output_dir", "data", "context", "labels"):
        if getattr(args, flag, None) is not None:
            raise ConfigError(
                f"--{flag.replace('_', '-')} is for flow runs; {folder} holds a {family!r} run: drop it"
            )
    argv = [*base, "--out", str(folder), *_shared_flags(args, family, command)]
    parsed = build_parser().parse_args(argv)
    print(f"maflow: {folder} holds a {family!r} run: maflow {' '.join(base)}", flush=True)
    return parsed.run(parsed)


def _shared_flags(args, family: str, command: str) -> list[str]:
    flags = []
    if getattr(args, "data_dir", None) is not None and (family, command) != ("made", "sample"):
        flags += ["--data-dir", str(args.data_dir)]
    if args.threads is not None:
        flags += ["--threads", str(args.threads)]
    if family == "vae":
        flags += ["--device", args.device, "--seed", str(args.seed)] + (["--quiet"] if args.quiet else [])
    elif command == "sample":
        flags += ["-N", str(args.num_samples), "--seed", str(args.seed)]
        if args.output is not None:
            flags += ["--png", str(args.output)]
    return flags
