"""Entry point of the MAF-v1.0 specification: ``python evaluate.py --dataset mnist --num_samples 64``.

A thin wrapper over ``maflow evaluate`` (``python evaluate.py --help`` lists every flag); it
reads runs from ``maf_results/`` unless ``--out`` is given.
"""

import sys

from maflow.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv += ["--out", "maf_results"]
    sys.exit(main(["evaluate", *argv]))
