"""Entry point of the MAF-v1.0 specification: ``python train.py --dataset mnist --epochs 100`` or ``python train.py --auto``.

A thin wrapper over ``maflow train`` (run ``python train.py --help`` for every flag); underscore
spellings (``--hidden_dim``, ``--num_layers``) are accepted, and runs go to ``maf_results/``
unless ``--out`` is given.
"""

import sys

from maflow.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        argv += ["--out", "maf_results"]
    sys.exit(main(["train", *argv]))
