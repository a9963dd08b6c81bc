#!/usr/bin/env bash
# Sets up .venv (if needed) and runs the whole test suite, doctests included.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
# One BLAS thread per worker: on 2-core machines two MKL threads slow small matmuls down.
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg
python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"
