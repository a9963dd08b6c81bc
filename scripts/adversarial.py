"""Adversarial probe: families of hostile and careless inputs against maflow's command line and library.

Each case runs in its own subprocess with a timeout (seconds each, on a tiny digits model) and
is classified:

* ``ok``: refused with one ``error:`` line and exit status 2 (after argparse's usage lines, if
  any), or the correct value / exit status 0 where the input is legitimate;
* ``traceback``: an uncaught Python traceback;
* ``silent``: exit 0 (or a wrong value) where the input should have been refused;
* ``unclear``: refused, but not in one line with exit status 2, or without the words that say
  what happened;
* ``data-loss``: a file that had to survive (the last good checkpoint, the user's own file) is
  gone, changed or unreadable;
* ``unsafe``: a crafted file ran code;
* ``hang``: the timeout passed;
* ``probe-error``: the probe could not prepare the case (a bug of this script, not of maflow).

Families: ``data`` (damaged data files), ``checkpoints`` (damaged, crafted, foreign),
``processes`` (SIGINT, SIGTERM, SIGKILL and a second writer), ``disk`` (a full disk inside a
checkpoint write, files where run folders belong), ``flags`` (out-of-range, wrong-type,
conflicting) and ``numerics`` (the library on extreme inputs). The table at the end counts the
outcomes per family; the exit status is 1 if any case is not ``ok``.

Usage::

    python scripts/adversarial.py                       # every family
    python scripts/adversarial.py --family flags disk   # some of them
    python scripts/adversarial.py --list                # the cases, without running them

The machinery is in ``adversarial_core.py``, the cases in ``adversarial_files.py`` (data,
checkpoints, disk) and ``adversarial_runs.py`` (processes, flags, numerics). The probe uses
the ``src`` of the checkout it sits in, writes only under ``--work`` (a new
temporary folder by default) and reads ``--shared`` (MNIST files), when given, without writing
there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

# The siblings in scripts/: the machinery, then the case families.
from adversarial_core import FAMILIES, OUTCOMES, Case, run_case
from adversarial_files import checkpoint_cases, data_cases, disk_cases
from adversarial_runs import flag_cases, numeric_cases, process_cases


def all_cases() -> list[Case]:
    return [
        *data_cases(),
        *checkpoint_cases(),
        *process_cases(),
        *disk_cases(),
        *flag_cases(),
        *numeric_cases(),
    ]


# ---------------------------------------------------------------------------------------------


def table(rows: list[tuple[Case, str, str, float]]) -> str:
    counts = {family: Counter() for family in FAMILIES}
    for case, outcome, _, _ in rows:
        counts[case.family][outcome] += 1
    header = "| family | " + " | ".join(OUTCOMES) + " | cases |"
    lines = [header, "|" + "---|" * (len(OUTCOMES) + 2)]
    for family in FAMILIES:
        if counts[family]:
            cells = " | ".join(str(counts[family][o]) for o in OUTCOMES)
            lines.append(f"| {family} | {cells} | {sum(counts[family].values())} |")
    total = Counter()
    for c in counts.values():
        total.update(c)
    lines.append("| all | " + " | ".join(str(total[o]) for o in OUTCOMES) + f" | {sum(total.values())} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--work", help="scratch folder (default: a new temporary folder, removed at the end)")
    parser.add_argument(
        "--timeout", type=float, default=180.0, help="seconds per case before it counts as a hang"
    )
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--json", help="also write every case's outcome to this file")
    args = parser.parse_args(argv)
    cases = [case for case in all_cases() if case.family in args.family]
    if args.list:
        for case in cases:
            print(f"{case.family:12s} {case.name}")
        return 0
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="maflow-adversarial-"))
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for case in cases:
            outcome, note, seconds = run_case(case, work, args.timeout)
            rows.append((case, outcome, note, seconds))
            print(f"{outcome:10s} {seconds:5.1f}s  {case.family:11s} {case.name}: {note}", flush=True)
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rows))
    if args.json:
        records = [
            {"family": c.family, "case": c.name, "outcome": o, "note": n, "seconds": round(s, 2)}
            for c, o, n, s in rows
        ]
        Path(args.json).write_text(json.dumps(records, indent=2) + "\n")
    return 0 if all(outcome == "ok" for _, outcome, _, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
