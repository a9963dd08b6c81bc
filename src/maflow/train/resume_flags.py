"""What ``--resume`` takes from the run it continues: every setting the command line leaves out.

A resumed run is the same run, so its settings are the checkpoint's, not the command's defaults:
``maflow made train --out RUN --resume --epochs 200`` continues RUN with its own hidden sizes,
seed and optimiser. A flag given again must agree with the run (each family's resume check
says so), except the few a resume may change (epochs, patience, a deliberate learning rate).
"""

from __future__ import annotations

import argparse

__all__ = ["MACHINE_SETTINGS", "fill_from_run", "stored_settings"]

# Settings of the machine a run happens to be on, not of the run: a resumed run takes today's.
MACHINE_SETTINGS = frozenset({"threads", "device", "progress", "quiet", "out", "data_dir", "tf32"})


def fill_from_run(args: argparse.Namespace, stored: dict, renamed: dict | None = None) -> None:
    """Sets every flag of ``args`` that the command line left out to the run's stored value.

    ``stored`` maps setting names to the values the run was trained with (its checkpoint's
    configuration); ``renamed`` maps a setting's name to its flag's ``dest`` where they differ.
    ``args.given_flags`` (set by :func:`maflow.cli.main` for a ``--resume``) holds the flags given; without it
    (``args`` built by hand) nothing is filled.

    Example:
        >>> args = argparse.Namespace(seed=0, lr=0.1, samples=1, given_flags={"lr"})
        >>> fill_from_run(args, {"seed": 7, "lr": 0.5, "ensemble_masks": 4}, {"ensemble_masks": "samples"})
        >>> args.seed, args.lr, args.samples
        (7, 0.1, 4)
    """
    given = getattr(args, "given_flags", None)
    if given is None:
        return
    for key, value in stored.items():
        dest = (renamed or {}).get(key, key)
        if dest in MACHINE_SETTINGS or dest in given or not hasattr(args, dest):
            continue
        setattr(args, dest, list(value) if isinstance(value, tuple) else value)


def stored_settings(checkpoint_path, family: str) -> dict | None:
    """The ``training_config`` of the checkpoint ``--resume`` continues (None: no such file yet).

    A checkpoint another family wrote (an MNF run's, say, in a flow's folder) is refused here,
    before its settings could be read as this family's. A checkpoint without a family record
    predates the record and is taken as it is.

    Example:
        >>> stored_settings("/no/such/run/checkpoints/latest.pth", "flow") is None
        True
    """
    from pathlib import Path

    from maflow.errors import CheckpointError
    from maflow.utils.io import load_checkpoint

    if not Path(checkpoint_path).is_file():
        return None
    checkpoint = load_checkpoint(checkpoint_path)
    stored_family = checkpoint.get("family", family)
    if stored_family != family:
        raise CheckpointError(
            f"{checkpoint_path} belongs to a run of another family ({stored_family!r}, not {family!r}): "
            "give --out the folder of the run to resume, or another folder to start a new one"
        )
    stored = checkpoint.get("training_config")
    return stored if isinstance(stored, dict) else {}
