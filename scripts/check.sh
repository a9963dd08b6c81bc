#!/usr/bin/env bash
# The CI's checks besides the test suite: lint and format, types, the docs, the package (build,
# twine check, the wheel in a fresh virtual environment) and the tutorials in their short form.
# Usage: bash scripts/check.sh [lint|types|docs|package|examples ...]   (default: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh
. .venv/bin/activate
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 MPLBACKEND=Agg NO_MKDOCS_2_WARNING=1
TORCH_SPEC=${TORCH_SPEC:-torch==2.13.0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

step() { printf '\n== %s\n' "$*"; STEP_START=$SECONDS; }
done_step() { printf '   (%ds)\n' $((SECONDS - STEP_START)); }

lint() {
  step "ruff check and ruff format --check"
  ruff check .
  # Python files only (ruff also formats the code blocks of Markdown pages, which is not wanted here).
  ruff format --check src tests benchmarks examples scripts train.py evaluate.py
  done_step
}

types() {
  step "mypy src/maflow (configuration in pyproject.toml)"
  mypy
  done_step
}

docs() {
  step "mkdocs build --strict"
  mkdocs build --strict --quiet --site-dir "$WORK/site"
  done_step
}

package() {
  step "python -m build, twine check, the wheel in a fresh virtual environment"
  python -m build --no-isolation --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1 || { cat "$WORK/build.log"; exit 1; }
  twine check --strict "$WORK"/dist/*
  # A fresh environment with only the core. torch is not installed again (a bare "torch" would pull
  # a multi-GB CUDA build): the environment sees this one's torch, and only torch and its own
  # dependencies, through a folder of links; pip installs the wheel and the rest of its dependencies.
  python -m venv "$WORK/venv"
  python scripts/link_torch.py "$WORK/torch-only"
  echo "$WORK/torch-only" >"$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/torch-only.pth"
  "$WORK/venv/bin/python" -m pip install -q "$WORK"/dist/*.whl 2>&1 | grep -v "^WARNING: Location" || true
  (
    cd "$WORK"  # not the source tree: the installed wheel must be what is imported
    "$WORK/venv/bin/maflow" --help >/dev/null
    "$WORK/venv/bin/python" - <<'EOF'
import importlib.util, sys, torch, maflow
from maflow import MAF
flow = MAF(features=4, num_layers=2, hidden_features=16)
print("log p(x):", flow.log_prob(torch.randn(3, 4)).tolist(), "| maflow", maflow.__version__)
# The core install is lean: no plotting, TensorBoard, scikit-learn or scipy came with it.
extras = [m for m in ("matplotlib", "tensorboard", "sklearn", "scipy") if importlib.util.find_spec(m)]
assert not extras, f"the core install pulled in {extras}"
assert maflow.__file__.startswith(sys.prefix), f"{maflow.__file__} is not the installed wheel"
EOF
  )
  done_step
}

examples() {
  step "the tutorials in examples/, short form (MAFLOW_QUICK=1)"
  for script in examples/*.py; do
    echo "-- $script"
    MAFLOW_QUICK=1 python "$script"
  done
  done_step
}

for check in "${@:-lint types docs package examples}"; do
  for name in $check; do "$name"; done
done
