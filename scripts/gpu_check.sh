#!/usr/bin/env bash
# One prepared device check: the gpu-marked tests, the peers benchmark on the device,
# MAF(5) on MNIST at the MAF paper's setting for a time budget, then the paper settings of
# `maflow reproduce maf-mnist` and `maflow reproduce vae-iaf`, each for a time budget (their
# tables keep the rows that finished); everything lands in OUT.
#   bash scripts/gpu_check.sh [DEVICE] [OUT]     DEVICE: cuda (default), cuda:N or cpu
#   QUICK=1 bash scripts/gpu_check.sh cpu /tmp/check   the CI-sized form (digits, one epoch;
#                                                      the reproductions at --budget quick)
# Environment: BUDGET_MINUTES (MNIST training, default 4), REPRODUCE_MINUTES (each
# reproduction, default 20), ROWS (words selecting rows, e.g. "MAF (5)"; default: all rows),
# DATA_DIR (default ../shared/data).
# Needs a Python with torch (a CUDA build for a GPU) and maflow installed; uses .venv if present.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=${1:-cuda}
OUT=${2:-${OUT:-runs/gpu_check}}
QUICK=${QUICK:-0}
BUDGET_MINUTES=${BUDGET_MINUTES:-4}
REPRODUCE_MINUTES=${REPRODUCE_MINUTES:-20}
ROWS=${ROWS:-}
DATA_DIR=${DATA_DIR:-../shared/data}
[ -f .venv/bin/activate ] && . .venv/bin/activate
export MAFLOW_CACHE=${MAFLOW_CACHE:-$OUT/cache} MPLBACKEND=Agg
mkdir -p "$OUT"
python - "$DEVICE" <<'PY' | tee "$OUT/device.txt"
import sys, torch
device = torch.device(sys.argv[1])
name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}, device: {name}")
if device.type == "cuda" and not torch.cuda.is_available():
    sys.exit("gpu_check: --device cuda but CUDA is not available")
PY
python -m pytest -q -m gpu tests/gpu -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.txt"
bench=(--device "$DEVICE" --no-memory --output "$OUT/benchmarks.md")
[ "$QUICK" = 1 ] && bench+=(--quick)
python benchmarks/peers.py "${bench[@]}" > "$OUT/benchmarks.log" 2>&1
if [ "$QUICK" = 1 ]; then
  data=(--dataset digits) epochs=(--epochs 1)
else
  data=(--dataset mnist --data-dir "$DATA_DIR") epochs=()  # the preset: MADEs of 1024 x 2, lr 1e-4, batch 100
fi
# The budget ends the training with SIGTERM: the trainer keeps its step and exits 143.
timeout --signal=TERM "${BUDGET_MINUTES}m" maflow train "${data[@]}" "${epochs[@]}" --device "$DEVICE" \
  --out "$OUT/maf" --no-progress > "$OUT/train.log" 2>&1 || true
maflow evaluate "${data[@]}" --out "$OUT/maf" --num-samples 16 > "$OUT/evaluate.log" 2>&1
grep -h "test average log-likelihood" "$OUT/evaluate.log" | tee "$OUT/maf_test_ll.txt"
# The paper settings of two reproduction tables; SIGTERM at the budget stops the running row,
# and the table OUT/reproduce/NAME/NAME-paper.md keeps every row that finished.
budget=paper
[ "$QUICK" = 1 ] && budget=quick
rows=()
[ -n "$ROWS" ] && rows=(--rows "$ROWS")
for table in maf-mnist vae-iaf; do
  timeout --signal=TERM "${REPRODUCE_MINUTES}m" maflow reproduce "$table" --budget "$budget" --device "$DEVICE" \
    --data-dir "$DATA_DIR" --out "$OUT/reproduce/$table" "${rows[@]}" > "$OUT/reproduce_$table.log" 2>&1 || true
  cat "$OUT/reproduce/$table/$table-$budget.md" 2>/dev/null || echo "no $table table: see $OUT/reproduce_$table.log"
done
