"""Entry point of the MAF-v1.0 specification: ``python evaluate.py --dataset mnist --num_samples 64``.

A thin wrapper over ``maflow evaluate`` (``python evaluate.py --help`` lists every flag); it
reads the run in ``maf_results/<dataset>/`` unless ``--out`` is given.
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
    sys.exit(main(["evaluate", *argv]))
