"""``maflow evaluate`` and ``maflow sample`` on the run folder of another model family.

A run folder's checkpoint names its family (``flow``, ``made``, ``vae``, ``mnf``, ``toy``); the
flow commands hand the folder of any other family to that family's own command, with the flags
that mean the same there, so that ``evaluate --run RUN`` and ``sample --run RUN`` work on any
run a training command wrote. The one pair without a command (an MNF classifier has nothing to
sample) is refused in one line that says why and what to run instead.
"""

from __future__ import annotations

import shlex

__all__ = ["run_family", "dispatch"]

# (family, command) -> the family's command line.
_COMMANDS = {
    ("made", "evaluate"): ["made", "evaluate"],
    ("made", "sample"): ["made", "sample"],
    ("vae", "evaluate"): ["vae", "evaluate"],
    ("vae", "sample"): ["vae", "sample"],
    ("mnf", "evaluate"): ["mnf", "evaluate"],
    ("toy", "evaluate"): ["toy", "evaluate"],
    ("toy", "sample"): ["toy", "sample"],
}
# (family, command) -> why there is no such command, and what to run instead.
_REFUSALS = {
    ("mnf", "sample"): "an MNIST classifier (MNF LeNet or LeNet), which has no density to sample: "
    "see its predictive uncertainty with `maflow mnf rotate` or `maflow mnf ood`",
}
# Families whose own commands default to another checkpoint than the flow commands' "best" (the
# last epoch's weights are their run's result): --checkpoint is passed on only when typed.
_OWN_CHECKPOINT_DEFAULT = ("vae", "mnf")


def run_family(args) -> tuple[str, object] | None:
    """The family of the run that ``--out``/``--run`` names and its folder, or None (a flow, no
    checkpoint, or ``--dataset`` given: a flow's run is meant).

    The checkpoint ``--checkpoint`` names is read, else the other one (a run without validation
    may hold only ``latest.pth``).

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
    names = ["best.pth", "latest.pth"] if args.checkpoint == "best" else ["latest.pth", "best.pth"]
    found = [folder / "checkpoints" / name for name in names if (folder / "checkpoints" / name).is_file()]
    if not found:
        return None
    checkpoint = load_checkpoint(found[0])
    family = checkpoint.get("family", "flow") if isinstance(checkpoint, dict) else "flow"
    return None if family == "flow" else (str(family), folder)


def dispatch(args, command: str, family: str, folder) -> int:
    """Runs ``command`` (``evaluate`` or ``sample``) of ``family`` on ``folder`` with the shared flags."""
    from maflow.cli import build_parser
    from maflow.errors import ConfigError

    refusal = _REFUSALS.get((family, command))
    if refusal is not None:
        raise ConfigError(f"{folder} holds a {family!r} run, {refusal}")
    base = _COMMANDS.get((family, command))
    if base is None:
        raise ConfigError(f"{folder} holds a {family!r} run, which maflow {command} does not read")
    for flag in ("output_dir", "data", "context", "labels"):
        if getattr(args, flag, None) is not None:
            raise ConfigError(
                f"--{flag.replace('_', '-')} is for flow runs; {folder} holds a {family!r} run: drop it"
            )
    argv = [*base, "--out", str(folder), *_shared_flags(args, family, command)]
    parsed = build_parser().parse_args(argv)
    print(f"maflow: {folder} holds a {family!r} run: maflow {shlex.join(argv)}", flush=True)
    return parsed.run(parsed)


def _typed(flag: str, short: str | None = None) -> bool:
    """Whether ``flag`` (an abbreviation argparse accepts, or ``short``: -N, -N5) was typed."""
    from maflow.run.command import command_line

    try:
        words = shlex.split(command_line())
    except ValueError:
        return False
    names = [word.split("=", 1)[0] for word in words if word.startswith("--")]
    if short is not None and any(word.startswith(short) and not word.startswith("--") for word in words):
        return True
    return any(len(name) > 3 and flag.startswith(name) for name in names)


def _checkpoint_flag(args, family: str, command: str) -> list[str]:
    from maflow.errors import ConfigError

    if family == "made":
        return []  # a binary MADE keeps one trained model (best.pt)
    typed = _typed("--checkpoint")
    if (family, command) == ("vae", "evaluate"):
        if typed and args.checkpoint != "latest":
            raise ConfigError(
                "maflow vae evaluate scores the run's result, checkpoints/latest.pth: drop --checkpoint"
            )
        return []
    if family in _OWN_CHECKPOINT_DEFAULT and not typed:
        return []
    return ["--checkpoint", args.checkpoint]


def _shared_flags(args, family: str, command: str) -> list[str]:
    flags = []
    if getattr(args, "data_dir", None) is not None and command == "evaluate" and family != "toy":
        flags += ["--data-dir", str(args.data_dir)]
    if args.threads is not None:
        flags += ["--threads", str(args.threads)]
    flags += ["--device", args.device]
    if (family, command) != ("made", "evaluate"):  # the one command here that draws nothing at random
        flags += ["--seed", str(args.seed)]
    flags += _checkpoint_flag(args, family, command)
    if (family, command) == ("vae", "evaluate") and args.quiet:
        flags += ["--quiet"]
    if command == "sample":
        # The toy's own default draws enough points for its scatter; 64 is the flow commands' default.
        if family != "toy" or _typed("--num-samples", "-N") or _typed("--num_samples"):
            flags += ["-N", str(args.num_samples)]
        if args.output is not None:
            flags += ["--png", str(args.output)]
    return flags
