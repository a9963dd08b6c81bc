"""``maflow data``: list the data sets, fetch their files, prepare (and cache) their splits."""

from __future__ import annotations

import json
import time

__all__ = ["register"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="list, fetch and prepare data sets")
    commands = parser.add_subparsers(dest="data_command", required=True, metavar="ACTION")

    from maflow.train.flag_parsing import data_folder

    def common(sub):
        sub.add_argument(
            "--data-dir",
            "--data_dir",
            type=data_folder,
            help="data directory (default: $MAFLOW_DATA or ~/.cache/maflow)",
        )

    listing = commands.add_parser("list", help="every data set: dims, split sizes, where it looks, presence")
    common(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=run_list)

    fetch = commands.add_parser("fetch", help="download a data set's public files, verifying checksums")
    fetch.add_argument("name")
    common(fetch)
    fetch.add_argument("--force", action="store_true", help="download again even if the files are there")
    fetch.set_defaults(run=run_fetch)

    prepare = commands.add_parser("prepare", help="preprocess a data set once and cache the splits")
    prepare.add_argument("name")
    common(prepare)
    prepare.add_argument("--no-verify", action="store_true", help="skip the canonical checksum check")
    prepare.add_argument(
        "--trust-pickle", action="store_true", help="allow unpickling the source (GAS's pandas pickle)"
    )
    prepare.set_defaults(run=run_prepare)


def _status(spec, data_dir) -> tuple[str, str]:
    from maflow.data.cache import cache_dir, cache_root, cache_stamp
    from maflow.data.loader import locate, search_folders

    if spec.embedded:
        return "embedded", "(bundled / generated)"
    where = str(search_folders(spec, data_dir)[0])
    source = locate(spec, data_dir)
    if source is None:
        return ("pickle only" if locate(spec, data_dir, allow_pickle=True) else "missing"), where
    status = f"present ({source.file_layout.name})"
    if spec.cache and cache_dir(cache_root(data_dir), cache_stamp(source)).joinpath("meta.json").is_file():
        status += ", cached"
    return status, str(source.folder)


def run_list(args) -> int:
    from pathlib import Path

    from maflow.data import DATASETS
    from maflow.data.loader import default_data_dir

    data_dir = Path(args.data_dir).expanduser() if args.data_dir else default_data_dir()
    rows = []
    for name in sorted(DATASETS, key=lambda n: (DATASETS[n].kind, n)):
        spec = DATASETS[name]
        status, where = _status(spec, data_dir)
        sizes = "/".join(f"{n:,}" for n in spec.split_sizes) if spec.split_sizes else "?"
        rows.append(
            {
                "name": name,
                "kind": spec.kind,
                "features": spec.features,
                "splits": sizes,
                "status": status,
                "where": where,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"data directory: {data_dir}")
    header = ("name", "kind", "features", "splits", "status", "where")
    widths = [max(len(header[i]), *(len(str(row[key])) for row in rows)) for i, key in enumerate(header)]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for row in rows:
        print("  ".join(str(row[key]).ljust(w) for key, w in zip(header, widths)).rstrip())
    return 0


def run_fetch(args) -> int:
    from maflow.data.fetch import fetch

    for path in fetch(args.name, args.data_dir, force=args.force):
        print(path)
    return 0


def run_prepare(args) -> int:
    from maflow.data import load

    start = time.perf_counter()
    ds = load(args.name, args.data_dir, verify=not args.no_verify, allow_pickle=args.trust_pickle)
    seconds = time.perf_counter() - start
    print(
        f"{ds.name}: {ds.kind}, D = {ds.features}, train/val/test = {len(ds.train):,}/{len(ds.val):,}/"
        f"{len(ds.test):,} ({seconds:.1f} s)"
    )
    return 0
