#!/usr/bin/env bash
# Sets up .venv (if needed), then trains and evaluates a MAF on the bundled 8x8 digits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export MPLBACKEND=Agg
# --overwrite: rerunning the quickstart replaces its earlier run (use maflow train --resume to continue one)
# --out is the run folder: out/digits/ (checkpoints/, logs/, results.json, samples/, figures/)
maflow train --dataset digits --model maf --out "${OUT:-out}/digits" --overwrite "$@"
maflow evaluate --out "${OUT:-out}/digits" --num-samples 64
