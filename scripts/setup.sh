#!/usr/bin/env bash
# Creates .venv and installs maflow with its test tools. Idempotent.
# TORCH_SPEC picks the torch build: the default is the CPU build this project is tested on;
# on a GPU machine use, e.g., TORCH_SPEC="torch" to take your platform's default wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# torch first and pinned: a bare "torch" requirement would pull a multi-GB CUDA build.
python -c "import torch" 2>/dev/null || python -m pip install -q "$TORCH_SPEC"
# The package with every extra and the CI tools (tests, lint, types, docs, build): see pyproject.toml.
python -m pip install -q -e ".[dev]"
