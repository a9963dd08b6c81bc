#!/usr/bin/env bash
# Sets up .venv (if needed), then trains and evaluates a MAF on the bundled 8x8 digits.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export MPLBACKEND=Agg
# --overwrite: rerunning the quickstart replaces its earlier run (use maflow train --resume to continue one)
maflow train --dataset digits --model maf --out "${OUT:-out}" --overwrite "$@"
maflow evaluate --dataset digits --out "${OUT:-out}" --num-samples 64
