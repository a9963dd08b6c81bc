"""Entry point of the MAF-v1.0 specification: ``python train.py --dataset mnist --epochs 100`` or ``python train.py --auto``.

A thin wrapper over ``maflow train`` (run ``python train.py --help`` for every flag); underscore
spellings (``--hidden_dim``, ``--num_layers``) are accepted, and runs go to
``maf_results/<dataset>/`` unless ``--out`` is given.
"""

import sys

from maflow.cli import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if not any(a == "--out" or a.startswith("--out=") for a in argv):
        # maf_results/<dataset>/ is the specification's run folder (--auto makes one per data set).
        dataset = next((b for a, b in zip(argv, argv[1:]) if a == "--dataset"), None)
        dataset = dataset or next((a.split("=", 1)[1] for a in argv if a.startswith("--dataset=")), None)
        argv += ["--out", f"maf_results/{dataset}" if dataset and "--auto" not in argv else "maf_results"]
    sys.exit(main(["train", *argv]))
